"""What strata tells the person running the build: one line under each image
task saying whether it came from the cache or was built, a summary at the
end, and, on a terminal, a status line at the bottom kept up to date."""

import shutil
import sys

from ansible import constants as C
from ansible.utils.display import Display

display = Display()


class StatusLine:
    """One line at the bottom of the terminal saying how the build is going,
    redrawn in place: every line Ansible prints first clears it, then it is
    drawn again below. Nothing happens when stdout is not a terminal."""

    def __init__(self, stream=None):
        self._stream = stream or sys.stdout
        self._text = ''
        self._shown = False
        self._original = None

    @property
    def active(self):
        return self._original is not None

    def start(self):
        if self.active or not self._stream.isatty():
            return
        self._original = display.display

        def display_then_redraw(*args, **kwargs):
            self._clear()
            self._original(*args, **kwargs)
            self._draw()
        display.display = display_then_redraw

    def show(self, text):
        if self.active:
            self._text = text
            self._clear()
            self._draw()

    def stop(self):
        if self.active:
            self._clear()
            display.display = self._original
            self._original = None

    def _clear(self):
        if self._shown:
            self._stream.write('\r\033[K')
            self._stream.flush()
            self._shown = False

    def _draw(self):
        if self._text:
            width = shutil.get_terminal_size((80, 24)).columns
            self._stream.write(self._text[:width - 1])
            self._stream.flush()
            self._shown = True


status = StatusLine()


def progress(hits, misses, seconds, running=None):
    text = 'strata: %d cached, %d built, %.0fs' % (hits, misses, seconds)
    status.show(text + ('  building %s' % running if running else ''))


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
    display.display('strata: [%s] nothing kept: no layer' % host, color=C.COLOR_SKIP)


def uncacheable(host, reason):
    never_cached(host, 'strata cannot work out what this task depends on (%s)' % reason)


def never_cached(host, why):
    # At the default verbosity: such a task runs on every build, and so does every task after it when it changes a file.
    display.display('strata: [%s] not cached: %s; it runs again on every build, and when it changes a file, '
                    'so does every task after it' % (host, why), color=C.COLOR_WARN)


def not_kept(host, why):
    display.display('strata: [%s] not cached: %s' % (host, why), color=C.COLOR_WARN)


def host_summary(record):
    parts = ['%d cached' % record.hits, '%d built' % record.misses,
             '%d layers (%s)' % (record.layers, human_bytes(record.layer_bytes))]
    display.display('strata: %s: %s' % (record.name, ', '.join(parts)))


def tagged(host, image, tags):
    display.display('strata: %s: image %s tagged %s' % (host, image[7:19], ', '.join(tags) or '(no strata_image)'),
                    color=C.COLOR_OK)


def pushed(host, tag):
    display.display('strata: %s: pushed %s' % (host, tag), color=C.COLOR_OK)


def not_tagged(host):
    display.display('strata: %s: failed, so no image was tagged (earlier tags are unchanged)' % host, color=C.COLOR_ERROR)


def no_provenance_inputs(host, error):
    display.warning('strata: %s: the image\'s provenance names no file of the run, as one could not be read: %s' % (host, error))


def not_tagged_partial(host):
    display.display('strata: %s: only some tasks ran (--tags, --skip-tags or --start-at-task), so the image was not tagged '
                    '(the run exits 1); its layers are cached' % host, color=C.COLOR_WARN)


def build_summary(hits, misses, saved, seconds):
    display.display('strata: %d tasks from the cache (saving %.1fs of work), %d built, in %.1fs' % (hits, saved, misses, seconds))
