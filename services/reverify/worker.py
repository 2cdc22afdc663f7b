"""The campaign worker as its own process: `python -m services.reverify.worker`.

Same settings as `serve` (SELLERVERIFY_*; point SELLERVERIFY_TEMPORAL_ADDRESS at the
cluster and SELLERVERIFY_DATABASE_URL at the shared database). Run as many as you like:
they share one task queue, and every task's effects are recorded once whichever worker
runs them. SIGTERM finishes running activities; kill -9 loses nothing (docs/campaigns.md).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from services.app import App
from services.platform.settings import Settings
from services.reverify.engine import Engine

log = logging.getLogger("sellerverify.reverify.worker")


async def run(settings: Settings) -> None:
    """Run the worker, followers and reconciler until SIGTERM/SIGINT."""
    app = App.build(settings)
    engine = Engine(app, run_worker=True)
    await engine.start()
    log.info("campaign worker running", extra={"address": engine.address})
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await engine.stop()
    app.close()


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
