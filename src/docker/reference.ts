// Docker's image reference grammar (distribution/reference), checked before a
// host's first task, so a bad strata_image or strata_from in the inventory
// stops the build at once, naming the host, the variable and the value,
// rather than after every task has run (a tag) or as Docker's own words
// about an unescaped request path (a base).

import { StrataError } from '../protocol/frames';

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
// A first component names a registry only with a dot or a port, or as
// localhost; any other first component is part of the (lower case) path.
const REGISTRY = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})+(?::[0-9]+)?|${DOMAIN_COMPONENT}:[0-9]+|localhost)`;
const NAME = `(?:${REGISTRY}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = ':[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const TAGGED_NAME = new RegExp(`^${NAME}(?:${TAG})?$`);
const IMAGE_REFERENCE = new RegExp(`^${NAME}(?:${TAG})?(?:${DIGEST})?$`);
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{12,64}$/;

/** A host's `strata_image` tags, each a name with an optional tag; `bad_config` names the first that is not. */
export function checkImageTags(host: string, tags: string[]): string[] {
  const bad = tags.find((tag) => !TAGGED_NAME.test(tag));
  if (bad !== undefined) {
    throw new StrataError(
      'bad_config',
      `strata_image ${JSON.stringify(bad)} of host ${host} is not a valid image name ([registry/]path[:tag], ` +
        'the path in lower case, like shop/web:latest). Fix the inventory.',
    );
  }
  return tags;
}

/** A host's `strata_from`: an image reference (a digest allowed) or an image ID; `bad_config` otherwise. */
export function checkBaseReference(host: string, base: string): string {
  if (IMAGE_REFERENCE.test(base) || IMAGE_ID.test(base)) return base;
  throw new StrataError(
    'bad_config',
    `strata_from ${JSON.stringify(base)} of host ${host} is not an image reference or ID ([registry/]path[:tag][@digest], ` +
      'the path in lower case, like debian:bookworm, or an image ID). Fix the inventory.',
  );
}
