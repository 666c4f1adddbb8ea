// Why a task missed: the fingerprint inputs of its entry compared with those
// of the closest earlier entry, said the way a person thinks about a task
// ("template src config.ini.j2: rendered content changed"). Pure: no Docker.

type Inputs = Record<string, unknown>;

interface FileInput {
  arg: string;
  path: string;
  sha256: string | null;
  mode: number | string;
}

/** Inputs explained on their own (action, files, args) or not at all (schema). */
const EXPLAINED_APART = new Set(['schema', 'action', 'files', 'args', 'items', 'item', 'skipped', 'undescribable']);

/** How a person would name an input whose key alone says little. */
const INPUT_NAMES: Record<string, string> = {
  module: "the module's code (or a module_utils file it imports)",
  action_plugin: "the action plugin's code",
  ansible_core: 'the ansible-core release',
  stop: 'until, retries or delay (or a variable until reads)',
  interpreters: 'the interpreter',
  mounted_runtime: 'the Python runtime strata mounts (strata_python, or a base that gained or lost Python)',
  shell: 'the shell or its executable',
  has_changed_when: 'whether changed_when is set',
  has_failed_when: 'whether failed_when is set',
};

const same = (a: unknown, b: unknown) => JSON.stringify(canonicalise(a)) === JSON.stringify(canonicalise(b));

function canonicalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalise);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonicalise((value as Inputs)[k])]));
  }
  return value;
}

function shortAction(action: unknown): string {
  return String(action ?? '').split('.').pop() ?? '';
}

/** Every controller file a task read, top level and per loop item, by "arg path". */
function filesOf(inputs: Inputs): Map<string, FileInput> {
  const lists = [inputs.files, ...((inputs.items as Inputs[] | undefined) ?? []).map((item) => item.files)];
  const files = new Map<string, FileInput>();
  for (const list of lists) for (const file of (list as FileInput[] | undefined) ?? []) files.set(`${file.arg} ${file.path}`, file);
  return files;
}

function fileReasons(action: string, now: Inputs, before: Inputs): string[] {
  const what = (file: FileInput) => (action === 'template' ? `template ${file.arg} ${file.path}` : `file ${file.arg} ${file.path}`);
  const nowFiles = filesOf(now);
  const beforeFiles = filesOf(before);
  const reasons: string[] = [];
  for (const [key, file] of nowFiles) {
    const old = beforeFiles.get(key);
    if (!old) reasons.push(`${what(file)}: read for the first time`);
    else if (old.sha256 !== file.sha256) reasons.push(`${what(file)}: ${action === 'template' ? 'rendered content' : 'content'} changed`);
    else if (old.mode !== file.mode) reasons.push(`${what(file)}: mode changed`);
  }
  for (const [key, file] of beforeFiles) if (!nowFiles.has(key)) reasons.push(`${what(file)}: no longer read`);
  return reasons;
}

/** Ansible's name for a free-form argument, as a person would say it. */
const ARG_NAMES: Record<string, string> = { _raw_params: 'the command line' };

function changedKeys(now: unknown, before: unknown): string[] {
  const a = (now ?? {}) as Inputs;
  const b = (before ?? {}) as Inputs;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => !same(a[k], b[k]))
    .sort()
    .map((k) => ARG_NAMES[k] ?? k);
}

function argReasons(now: Inputs, before: Inputs): string[] {
  if (!('items' in now) && !('items' in before)) {
    const keys = changedKeys(now.args, before.args);
    return keys.length ? [`variable-rendered args changed: ${keys.join(', ')}`] : [];
  }
  const nowItems = (now.items as Inputs[] | undefined) ?? [];
  const beforeItems = (before.items as Inputs[] | undefined) ?? [];
  if (nowItems.length !== beforeItems.length) return [`loop items changed: ${beforeItems.length} items, now ${nowItems.length}`];
  const reasons: string[] = [];
  nowItems.forEach((item, i) => {
    const old = beforeItems[i];
    if (!same(item.item, old.item)) reasons.push(`loop item ${i + 1} changed`);
    else if (Boolean(item.skipped) !== Boolean(old.skipped)) reasons.push(`loop item ${i + 1} is ${item.skipped ? 'now' : 'no longer'} skipped by when`);
    else {
      const keys = changedKeys(item.args, old.args);
      if (keys.length) reasons.push(`variable-rendered args of loop item ${i + 1} changed: ${keys.join(', ')}`);
    }
  });
  return reasons;
}

/** Every other input, whatever the plugin sent, top level and per loop item. */
function keywordReasons(now: Inputs, before: Inputs): string[] {
  const perItem = (inputs: Inputs) => ('items' in inputs ? ((inputs.items as Inputs[]).find((i) => !i.skipped) ?? {}) : {});
  const a = { ...perItem(now), ...now };
  const b = { ...perItem(before), ...before };
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => !EXPLAINED_APART.has(k) && !same(a[k], b[k]))
    .sort()
    .map((k) => `${INPUT_NAMES[k] ?? k} changed`);
}

export interface Comparison {
  now: Inputs | undefined;
  before: Inputs | undefined;
  parentDiffers: boolean;
  /** The earlier entry's parent is the base image and differs: the base was re-pulled or changed. */
  baseDiffers: boolean;
}

/** The reasons a task's fingerprint differs from an earlier one's, most telling first. */
export function explainDifference(c: Comparison): string[] {
  if (!c.now || !c.before) {
    return ['the inputs of one of the two entries cannot be read here (a no_log task sealed on another machine)'];
  }
  const reasons: string[] = [];
  if (c.now.undescribable || c.before.undescribable) reasons.push('the task could not be fingerprinted (its args failed to template), so it is never cached');
  if (!same(c.now.schema, c.before.schema)) reasons.push(`the fingerprint recipe changed (schema ${c.before.schema} → ${c.now.schema})`);
  if (!same(c.now.action, c.before.action)) reasons.push(`action changed: ${c.before.action} → ${c.now.action}`);
  reasons.push(...fileReasons(shortAction(c.now.action), c.now, c.before), ...argReasons(c.now, c.before), ...keywordReasons(c.now, c.before));
  if (c.baseDiffers) reasons.push('the base image changed (strata_from now names another image ID)');
  else if (c.parentDiffers) reasons.push('an earlier task in the chain changed, so this task has another parent');
  if (!reasons.length) reasons.push('nothing in its inputs changed: the earlier entry was made never-cached (_cacheable: false) or this one was forced (STRATA_NO_CACHE)');
  return reasons;
}
