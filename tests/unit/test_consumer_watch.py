"""The warning when nothing consumes the topic builds are handed to."""

import logging

from nova_cells.handoff import watch


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _watch(answers, clock=None):
    calls = []

    def consumers():
        calls.append(1)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    return watch.ConsumerWatch(consumers, 'conductor', 'rabbit://h/v',
                               every=60.0, clock=clock or Clock()), calls


def test_no_queue_or_no_consumer_is_one_warning_naming_topic_and_broker(
        caplog):
    checks, _calls = _watch([None, 0, 2])
    with caplog.at_level(logging.WARNING):
        assert checks.check(3) is True
        assert checks.check(1) is True
        assert checks.check(1) is False
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert 'Nothing consumes topic conductor on rabbit://h/v (no queue): ' \
        'the 3 build(s)' in lines[0]
    assert '(0 consumers)' in lines[1]


def test_a_broker_that_does_not_answer_is_no_warning(caplog):
    checks, _calls = _watch([ConnectionRefusedError('down')])
    with caplog.at_level(logging.WARNING):
        assert checks.check() is False
    assert caplog.records == []


def test_checks_at_most_once_a_period_and_counts_what_was_handed_off():
    clock = Clock()
    checks, calls = _watch([0, 0], clock)
    first = checks.handed_off(2)
    first.join(5)
    assert checks.handed_off(5) is None        # within the period
    clock.now += 61
    second = checks.handed_off(1)
    second.join(5)
    assert len(calls) == 2 and checks.warned == 2


def test_no_watch_for_a_broker_that_is_not_rabbitmq():
    class Conf(object):
        transport_url = 'fake://'
    assert watch.for_rabbit(Conf(), 'conductor') is None
