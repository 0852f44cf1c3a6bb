"""`s3` sink (boto3, any S3-compatible `endpoint_url`). A PUT is atomic: the object appears
whole or not at all, so no temporary name is needed."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, Field

from halo_platform.core.request_deadline import transfer_seconds, watching_new_sockets, within
from halo_platform.core.s3 import stored_etag
from halo_platform.sinks.base import (
    Delivery,
    PermanentSinkError,
    Sink,
    TransientSinkError,
    answered_within,
    safe_name,
    tls_refused,
)
from halo_platform.sinks.settings import CommandSetting, PathSetting, ServerURL, Timeout


def _no_parent_step(prefix: str) -> str:
    # nothing resolves one: `a/../b` was the key `a/../b/<name>`, in a folder `..` no partner lists
    if ".." in prefix.split("/"):
        raise ValueError("a '..' step names no folder: S3 keys are names, not paths; write the folder itself")
    return prefix


# the folder the reports go in, as a path (`..` refused), though a key is a name
KeyPrefix = Annotated[PathSetting, AfterValidator(_no_parent_step)]

# S3 takes 5 GiB at most in one PUT (a larger report was refused, EntityTooLarge): a larger file goes
# in parts, each read in turn (10,000 at most, so more than PART_BYTES each for a file over 640 GiB)
MAX_PUT_BYTES = 5 * 1024**3
PART_BYTES = 64 * 1024**2
_MAX_PARTS = 10_000

_TRANSIENT_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}
# S3 refuses a request signed over 15 minutes off its clock: it was retried, each attempt (and the run's
# retry) with the same clock and refused the same way; what to fix is the host's clock
_WHY = {"RequestTimeTooSkewed": " (this host's clock is over 15 minutes off the server's: no retry fixes it, set the clock right)"}


class S3Sink(Sink):
    """Uploads to `s3://bucket/<prefix>/<name>`: the prefix is a folder, `halo`, `/halo` and `halo/`
    alike (a key from `/halo/` began with `/`, which a listing of `halo/` never finds, and one from
    `halo` was `halo<name>`); an empty step names no folder (`halo//x` is `halo/x`), a `.` step the
    folder it is in (`./halo` is `halo`, as in an FTP or SFTP remote_dir), and a `..` one is refused.
    Credentials: `access_key_id`/`secret_access_key` (as `${ENV}` references) or the standard AWS
    environment / instance role."""

    kind = "s3"
    bucket: str
    prefix: KeyPrefix = ""
    endpoint_url: ServerURL | None = None
    region: str | None = None
    access_key_id: CommandSetting | None = None
    secret_access_key: CommandSetting | None = None  # signed with, never sent: one with a line break signs wrong
    timeout: Timeout = 30.0
    # how long a presigned link lives: a SigV4 one 7 days at most (S3 refuses longer), and NaN
    # raised a bare ValueError out of the delivery after the upload
    link_expiry_hours: Annotated[float, Field(gt=0, le=168, allow_inf_nan=False)] = 168.0

    def links_refused(self) -> None:
        return None

    def link(self, target: str) -> str:
        """A presigned GET URL of an object this sink wrote (`s3://bucket/key`, the key percent-encoded)."""
        from botocore.exceptions import BotoCoreError, ClientError

        parts = urlsplit(target)
        try:
            return self._client().generate_presigned_url(
                "get_object", Params={"Bucket": parts.netloc, "Key": unquote(parts.path)[1:]},
                ExpiresIn=int(self.link_expiry_hours * 3600))
        except (BotoCoreError, ClientError) as exc:
            raise PermanentSinkError(f"S3 {self.bucket}: cannot sign a link ({type(exc).__name__})") from None

    def _client(self):  # noqa: ANN202
        import boto3
        from botocore.config import Config
        from botocore.exceptions import PartialCredentialsError

        config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=self.timeout,
                        read_timeout=self.timeout, signature_version="s3v4")  # SigV4: presigned links too
        try:
            return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config,
                                aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)
        except ValueError:  # boto's text repeats the setting's value
            raise PermanentSinkError(f"S3 {self.bucket}: endpoint_url or region is not valid") from None
        except PartialCredentialsError:  # it failed every delivery as 'unexpected error: PartialCredentialsError'
            raise PermanentSinkError(f"S3 {self.bucket}: access_key_id and secret_access_key go together: one is not set") from None

    def deliver(self, delivery: Delivery) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError

        client = self._client()
        targets = []
        folder = "".join(f"{step}/" for step in self.prefix.split("/") if step not in ("", "."))  # "" when no prefix
        endpoint = urlsplit(client.meta.endpoint_url).netloc.rpartition("@")[2]  # never a user or password it holds
        # each upload within a time of its size: botocore's timeouts hold for each read, and an endpoint
        # sending its answer's head a line at a time held the report's run (and the sinks after it) for good;
        # the deadline watches each socket boto3 makes (answered_within)
        with answered_within(f"S3 {endpoint}", self.timeout) as deadline:
            try:
                with self.stored(delivery) as files:
                    for path in files:
                        key = f"{folder}{safe_name(path.name)}"
                        deadline.renew(transfer_seconds(self.timeout, path.stat().st_size))
                        self._upload(client, path, key)
                        targets.append(self.file_uri("s3", self.bucket, f"/{key}"))
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                error = TransientSinkError if code in _TRANSIENT_CODES or status >= 500 or status == 429 else PermanentSinkError
                raise error(f"S3 {self.bucket}: {code or status}{_WHY.get(code, '')}") from None
            except NoCredentialsError:
                raise PermanentSinkError("S3: no credentials") from None
            except ParamValidationError:  # botocore refuses it before any request (a space, a slash): no retry changes it
                raise PermanentSinkError(f"S3 {self.bucket}: bucket: not a bucket name S3 takes (ParamValidationError)") from None
            except BotoCoreError as exc:  # endpoint unreachable, connection dropped, timeouts
                if refused := tls_refused(exc, f"S3 {self.bucket}", "endpoint_url"):  # no retry makes it trusted, as the other sinks say
                    raise refused from None
                raise TransientSinkError(f"S3 {self.bucket}: {type(exc).__name__}") from None
        return targets

    def _upload(self, client: Any, path: Path, key: str) -> None:  # noqa: ANN401 - a boto3 client
        """`path` as `key`: in one PUT (our retries, not s3transfer's), or in parts over `MAX_PUT_BYTES`;
        a failed upload in parts is aborted (S3 would keep its parts, and bill them), within the timeout."""
        from botocore.exceptions import BotoCoreError, ClientError

        size = path.stat().st_size
        if size <= MAX_PUT_BYTES:
            with open(path, "rb") as body:
                self._stored(client.put_object(Bucket=self.bucket, Key=key, Body=body), key)
            return
        # each part with its CRC32, as botocore sends a PUT's: S3 refuses a part's checksum the upload does not name
        upload = client.create_multipart_upload(Bucket=self.bucket, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
        part_bytes = max(PART_BYTES, -(-size // _MAX_PARTS))
        try:
            parts = []
            with open(path, "rb") as body:
                for number in range(1, -(-size // part_bytes) + 1):
                    answer = client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number,
                                                Body=body.read(part_bytes), ChecksumAlgorithm="CRC32")
                    parts.append({"PartNumber": number, "ETag": self._stored(answer, key)})
                    if "ChecksumCRC32" in answer:  # a store that keeps no checksum sends none
                        parts[-1]["ChecksumCRC32"] = answer["ChecksumCRC32"]
            self._stored(client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                                          MultipartUpload={"Parts": parts}), key)
        except BaseException:
            # within a time of its own (the upload's may be over, its sockets shut); best effort: what failed is said
            with within(self.timeout) as cleanup, watching_new_sockets(cleanup), contextlib.suppress(ClientError, BotoCoreError):
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise

    def _stored(self, answer: dict, key: str) -> str:
        """The ETag of an answer to an upload (of a part); sent again, it is the same."""
        if (etag := stored_etag(answer)) is None:
            raise TransientSinkError(f"S3 {self.bucket}: the answer to the upload of {key} was not a whole 200 with an ETag")
        return etag

