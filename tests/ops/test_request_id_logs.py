"""A job enqueued during a web request logs (as JSON in production) with that request's id."""

from __future__ import annotations

import io
import json
import logging

from app.core.logging_setup import JsonFormatter, RequestIdFilter
from app.core.queues import enqueue, task

logger = logging.getLogger("omnicrm.test.jobs")


@task
def log_from_job(marker: str) -> str:
    logger.info("job ran %s", marker)
    return marker


def _capture() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler, stream


def test_job_logs_carry_the_request_id(app, jobs):
    handler, stream = _capture()
    try:
        with app.test_request_context("/", headers={"X-Request-ID": "req-abc-123"}):
            app.preprocess_request()  # runs the before_request hook that adopts X-Request-ID
            logger.info("in the request")
            job = enqueue(log_from_job, "m1", queue="default")
        assert job.meta["request_id"] == "req-abc-123"
        jobs(("default",))
        job.refresh()
        assert job.get_status() == "finished"
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_msg = {line["msg"]: line for line in lines}
    assert by_msg["in the request"]["request_id"] == "req-abc-123"
    assert by_msg["job ran m1"]["request_id"] == "req-abc-123"
    assert by_msg["job ran m1"]["level"] == "INFO"


def test_request_without_header_gets_a_fresh_id_that_the_job_reuses(app, jobs):
    handler, stream = _capture()
    try:
        with app.test_request_context("/"):
            app.preprocess_request()
            job = enqueue(log_from_job, "m2", queue="default")
        jobs(("default",))
    finally:
        logger.removeHandler(handler)
    rid = job.meta["request_id"]
    assert rid
    assert len(rid) == 32
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["msg"] == "job ran m2"
    assert line["request_id"] == rid
