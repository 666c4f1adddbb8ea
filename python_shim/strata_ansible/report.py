"""What strata tells the person running the build: one line under each image
task saying whether it came from the cache or was built, and a summary."""

from ansible import constants as C
from ansible.utils.display import Display

display = Display()


def human_bytes(count):
    size = float(count)
    for unit in ('B', 'kB', 'MB', 'GB'):
        if size < 1000 or unit == 'GB':
            return ('%d %s' % (size, unit)) if unit == 'B' else ('%.1f %s' % (size, unit))
        size /= 1000


def cached(host):
    display.display('strata: [%s] cached' % host, color=C.COLOR_SKIP)


def built(host, new_layer, layer_bytes, seconds):
    what = 'layer %s' % human_bytes(layer_bytes) if new_layer else 'no file changed, no layer'
    display.display('strata: [%s] built, %s (%.1fs)' % (host, what, seconds), color=C.COLOR_CHANGED)


def discarded(host):
    display.display('strata: [%s] failed: nothing committed' % host, color=C.COLOR_ERROR)


def checked(host):
    display.display('strata: [%s] checked: nothing kept' % host, color=C.COLOR_SKIP)


def check_mode_summary():
    display.display('strata: check mode: nothing was read from or written to the cache, and no image was tagged')


def skipped(host):
    display.display('strata: [%s] skipped: no layer' % host, color=C.COLOR_SKIP)


def uncacheable(host, reason):
    display.vv('strata: [%s] not cached this time: %s' % (host, reason))


def host_summary(record):
    parts = ['%d cached' % record.hits, '%d built' % record.misses,
             '%d layers (%s)' % (record.layers, human_bytes(record.layer_bytes))]
    display.display('strata: %s: %s' % (record.name, ', '.join(parts)))


def tagged(host, image, tags):
    display.display('strata: %s: image %s tagged %s' % (host, image[7:19], ', '.join(tags) or '(no strata_image)'),
                    color=C.COLOR_OK)


def not_tagged(host):
    display.display('strata: %s: failed, so no image was tagged (earlier tags are unchanged)' % host, color=C.COLOR_ERROR)


def not_tagged_partial(host):
    display.display('strata: %s: only some tasks ran (--tags, --skip-tags or --start-at-task), so the image was not tagged; '
                    'its layers are cached' % host, color=C.COLOR_WARN)


def build_summary(hits, misses, seconds):
    display.display('strata: %d tasks from the cache, %d built, in %.1fs' % (hits, misses, seconds))
