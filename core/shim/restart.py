"""The restart policy (docker's --restart): whether the shim starts the command again
once it has exited, and after how long.  Pure decisions, no processes."""
from __future__ import annotations

RESET_AFTER = 10.0  # seconds of running after which the back-off starts over
FIRST_DELAY = 0.1  # seconds; it doubles with each quick exit
MAX_DELAY = 60.0


def should_restart(policy: dict, code: int, restarts: int, stop_requested: bool) -> bool:
    """Whether the command starts again after exiting with CODE, RESTARTS restarts
    ago.  POLICY is HostConfig.RestartPolicy; a stop asked for ends it."""
    if stop_requested:
        return False
    name = policy.get("Name")
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure" and code != 0:
        limit = policy.get("MaximumRetryCount")
        return not limit or restarts < limit
    return False


def backoff(previous: int, ran_for: float) -> tuple[int, float]:
    """docker's back-off: 100 ms doubling with each exit after less than RESET_AFTER of
    running, back to 100 ms after a longer run.  Returns (the new back-off step, the
    delay in seconds before the next start)."""
    step = 0 if ran_for > RESET_AFTER else previous + 1
    delay = min(FIRST_DELAY * (2 ** max(step - 1, 0)), MAX_DELAY) if step else FIRST_DELAY
    return step, delay
