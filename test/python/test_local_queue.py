"""The final queue a replay's results cross: what is put on it reaches the
strategy through Ansible's own results-thread code, in order, in this thread,
and handing over returns once the queue is empty instead of waiting for more."""

import threading

from strata_ansible.compat import api
from strata_ansible.compat.local_queue import LocalQueue


def _display_message(text):
    # What a worker sends to print a line: its generation's DisplaySend.
    return (text,) if api.generation == 'legacy' else ('display', text)


def test_messages_reach_the_strategy_in_order_in_this_thread(capsys, monkeypatch):
    printed_in = []
    from ansible.utils.display import Display
    real_display = Display.display
    monkeypatch.setattr(Display, 'display', lambda self, msg, *a, **k: (printed_in.append(threading.current_thread()),
                                                                        real_display(self, msg, *a, **k)))
    queue = LocalQueue()
    for text in ('first', 'second', 'third'):
        queue.send_display(*_display_message(text))
    assert capsys.readouterr().out == '', 'nothing is handed over before deliver'
    queue.deliver(strategy=object())  # display messages touch nothing of the strategy
    assert capsys.readouterr().out.split() == ['first', 'second', 'third']
    assert printed_in == [threading.current_thread()] * 3


def test_delivering_an_empty_queue_returns():
    queue = LocalQueue()
    queue.deliver(strategy=object())
    queue.send_display(*_display_message('later'))
    queue.deliver(strategy=object())
