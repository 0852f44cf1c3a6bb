"""What an S3 answer says, read the same way by the report sinks and the EMR landing."""

from __future__ import annotations


def stored_etag(answer: dict) -> str | None:
    """The ETag of a boto3 answer to an upload, None unless it is a 200 with one: a head cut off (the
    connection closed before its end) parsed as a whole 200, and only the ETag S3 gives what it stored
    says it has it."""
    if answer["ResponseMetadata"]["HTTPStatusCode"] != 200:
        return None
    return answer.get("ETag") or None
