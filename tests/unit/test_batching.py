"""gan_viz/batching.py: calls that arrive while a pass runs go together, each caller gets its own rows, errors reach
every caller of a pass, and calls that cannot share a pass do not."""
import threading
import time

import pytest
import torch

from gan_viz import batching


def _wait_until(cond, timeout_s: float = 10.0) -> bool:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.002)
    return False


def _held_batcher(fn, waiting: int):
    """A batcher whose first pass holds the network until `waiting` more calls are pending: those then run as the
    next pass, deterministically."""
    in_first = threading.Event()

    def held(*inputs, **options):
        if not in_first.is_set():
            in_first.set()
            assert _wait_until(lambda: b.pending() == waiting), "the other calls never arrived"
        return fn(*inputs, **options)

    b = batching.MicroBatcher(held, max_batch=32, wait_s=0.0)
    return b, in_first


def _run(b, in_first, inputs, **options):
    results, errors = [None] * len(inputs), [None] * len(inputs)

    def call(i):
        try:
            results[i] = b(*inputs[i], **options)
        except Exception as e:  # noqa: BLE001 - the test reads it
            errors[i] = e

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    threads[0].start()
    assert in_first.wait(10), "the first call never reached the network"
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(20)
    return results, errors


def test_calls_arriving_during_a_pass_run_as_one_and_each_caller_gets_its_own_rows():
    def net(x):
        return {"double": x * 2, "parts": (x.sum(1), [x[:, :1]])}

    b, in_first = _held_batcher(net, waiting=7)
    inputs = [(torch.full((1, 3), float(i)),) for i in range(8)]
    results, errors = _run(b, in_first, inputs)
    assert errors == [None] * 8
    assert list(b.sizes) == [1, 7]  # the first alone, the seven that queued behind it together
    for i, r in enumerate(results):
        assert torch.equal(r["double"], torch.full((1, 3), 2.0 * i))
        assert torch.equal(r["parts"][0], torch.tensor([3.0 * i]))
        assert isinstance(r["parts"][1], list) and torch.equal(r["parts"][1][0], torch.full((1, 1), float(i)))


def test_a_caller_with_several_rows_gets_all_of_them_back():
    b, in_first = _held_batcher(lambda x, m: x * m, waiting=2)
    inputs = [(torch.ones(1, 2), torch.ones(1, 2)), (torch.full((3, 2), 2.0), torch.full((3, 2), 3.0)),
              (torch.full((2, 2), 5.0), torch.ones(2, 2))]
    results, errors = _run(b, in_first, inputs)
    assert errors == [None] * 3 and list(b.sizes) == [1, 5]
    assert [r.shape[0] for r in results] == [1, 3, 2]
    assert torch.equal(results[1], torch.full((3, 2), 6.0)) and torch.equal(results[2], torch.full((2, 2), 5.0))


def test_an_error_in_a_pass_reaches_each_of_its_callers_and_the_batcher_goes_on():
    def net(x):
        if (x < 0).any():
            raise ValueError("negative input")
        return x + 1

    b, in_first = _held_batcher(net, waiting=3)
    inputs = [(torch.zeros(1, 2),), (torch.ones(1, 2),), (-torch.ones(1, 2),), (torch.ones(1, 2),)]
    results, errors = _run(b, in_first, inputs)
    assert errors[0] is None and torch.equal(results[0], torch.ones(1, 2))
    assert all(isinstance(e, ValueError) for e in errors[1:])  # one pass, so one error for all three
    assert torch.equal(b(torch.ones(1, 2)), torch.full((1, 2), 2.0))  # the worker survived


def test_calls_of_other_shapes_or_options_run_in_passes_of_their_own():
    b, in_first = _held_batcher(lambda x, scale=1.0: x * scale, waiting=4)
    inputs = [(torch.ones(1, 3),), (torch.ones(1, 3),), (torch.ones(1, 4),), (torch.ones(1, 3),), (torch.ones(1, 4),)]
    results, errors = _run(b, in_first, inputs, scale=2.0)
    assert errors == [None] * 5
    assert sorted(b.sizes) == [1, 2, 2]  # the first; then the (1, 3) calls together and the (1, 4) calls together
    assert all(torch.equal(r, torch.full(r.shape, 2.0)) for r in results)


def test_passes_run_without_gradient_and_a_network_is_kept_by_its_users_only():
    net = torch.nn.Linear(3, 2)
    x = torch.ones(1, 3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_VIZ_BATCH", "1")
        out = batching.run(net, x)
        assert torch.allclose(out, net(x)) and not out.requires_grad
        assert batching.batcher_for(net) is batching.batcher_for(net)  # every thread joins the same queue
    ref = torch.nn.Linear(3, 2)
    batching.batcher_for(ref)
    count = len(batching._batchers)
    del ref
    assert len(batching._batchers) == count - 1  # the batcher did not keep the network alive


@pytest.mark.parametrize("flag, expected", [("1", True), ("on", True), ("0", False), ("off", False),
                                            ("auto", False)])
def test_batching_is_on_where_asked_and_by_default_only_on_cuda(monkeypatch, flag, expected):
    monkeypatch.setenv("GAN_VIZ_DEVICE", "cpu")
    monkeypatch.setenv("GAN_VIZ_BATCH", flag)
    assert batching.enabled() is expected


def test_batching_stays_off_on_zerogpu_unless_asked(monkeypatch):
    """ZeroGPU attaches the GPU only inside each request's decorated call: a pass on the batcher's thread would run
    without it."""
    monkeypatch.setattr(batching, "get_device", lambda: torch.device("cuda"))
    monkeypatch.setenv("GAN_VIZ_BATCH", "auto")
    assert batching.enabled()
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert not batching.enabled()
    monkeypatch.setenv("GAN_VIZ_BATCH", "1")
    assert batching.enabled()
