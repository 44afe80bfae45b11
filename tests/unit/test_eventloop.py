"""Which event loop ``muxscope proxy`` runs on (proxy/eventloop.py)."""

from __future__ import annotations

import asyncio

import pytest

from proxy import eventloop
from proxy.eventloop import EventLoopError, LoopChoice, resolve

has_uvloop = eventloop.uvloop_available()


def test_asyncio_is_always_asyncio():
    assert resolve("asyncio", env={}) is LoopChoice.ASYNCIO


def test_auto_takes_uvloop_when_installed_and_not_switched_off(monkeypatch):
    monkeypatch.setattr(eventloop, "uvloop_available", lambda: True)
    assert resolve("auto", env={}) is LoopChoice.UVLOOP
    assert resolve("auto", env={"MUXSCOPE_NO_UVLOOP": "0"}) is LoopChoice.UVLOOP
    assert resolve("auto", env={"MUXSCOPE_NO_UVLOOP": "1"}) is LoopChoice.ASYNCIO
    assert resolve("auto", stdio=True, env={}) is LoopChoice.ASYNCIO


def test_auto_without_uvloop_is_asyncio_and_asking_for_it_is_an_error(monkeypatch):
    monkeypatch.setattr(eventloop, "uvloop_available", lambda: False)
    assert resolve("auto", env={}) is LoopChoice.ASYNCIO
    with pytest.raises(EventLoopError, match=r"muxscope\[fast\]"):
        resolve("uvloop", env={})


def test_stdio_stays_on_asyncio_even_when_uvloop_is_asked_for(monkeypatch):
    monkeypatch.setattr(eventloop, "uvloop_available", lambda: True)
    assert resolve("uvloop", stdio=True, env={}) is LoopChoice.ASYNCIO


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError):
        resolve("trio", env={})


@pytest.mark.parametrize("choice", [LoopChoice.ASYNCIO, *([LoopChoice.UVLOOP] if has_uvloop else [])])
def test_run_uses_the_chosen_loop(choice):
    async def name() -> str:
        await asyncio.sleep(0)
        return eventloop.running_loop_name()

    assert eventloop.run(name(), choice) == choice.value
