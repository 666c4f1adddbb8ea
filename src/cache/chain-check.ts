// Whether a cache entry really is what its labels say: the image its parent
// link made, plus the one layer (or none) its task added. Labels alone can be
// copied onto any image, locally or through a shared registry; the layer
// chain cannot be faked without building on the parent's very layers.

/** Whether `entry`'s layers are `parent`'s followed by at most one more. */
export function extendsByOneTask(parent: readonly string[], entry: readonly string[]): boolean {
  const added = entry.length - parent.length;
  if (added < 0 || added > 1) return false;
  for (let i = 0; i < parent.length; i++) if (parent[i] !== entry[i]) return false;
  return true;
}
