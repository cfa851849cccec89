"""redaction.py: a remote URL's display form hides its credentials (userinfo, secret query
parameters), error texts and command lines are cleaned of them, and a cut-off first line of an
error (botocore's ``Parameter validation failed:``) is completed by the line it introduces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assetbuild.remote import RemoteSettings, display_url, redact_text, remote_secrets
from assetbuild.remote.transport import describe_error


@pytest.mark.parametrize("url, shown", [
    ("https://alice:S3cretPassw0rd@127.0.0.1:1/cache", "https://***@127.0.0.1:1/cache"),
    ("s3://AKIAXXXXXXXX:S3cretPassw0rd@bucket/p", "s3://***@bucket/p"),
    ("ftp://u:p@host/c", "ftp://***@host/c"),
    ("https://ghp_T0ken@example.com/c", "https://***@example.com/c"),  # a token in the user's place
    ("https://u:p@ss@host/c", "https://***@host/c"),  # an unescaped @ in the password: the last one ends it
    ("https://h/c?X-Amz-Signature=abc&X-Amz-Date=20250101&token=t0k#f",
     "https://h/c?X-Amz-Signature=***&X-Amz-Date=20250101&token=***#f"),
    ("https://h/c?sv=2024&sig=AbC%3D&X-Amz-Credential=AKIA%2F1&X-Amz-Security-Token=z",
     "https://h/c?sv=2024&sig=***&X-Amz-Credential=***&X-Amz-Security-Token=***"),
    ("simplecache::s3://key:secret@bucket/p", "simplecache::s3://***@bucket/p"),
    ("s3:/AKIA:secret@bucket", "s3:/***@bucket"),  # malformed, as an error quotes it
    # a password with an unescaped "/" (AWS secret keys often have one): to the last @ too
    ("s3://AKIAXXXXXXXX:wJalrXUtn/K7MDENG/bPxRfiCY@bucket/p", "s3://***@bucket/p"),
    ("https://u:pa/ss@w/rd@host/c?x=1", "https://***@host/c?x=1"),
    # nothing secret: shown as given
    ("s3://bucket/team", "s3://bucket/team"),
    ("file:///srv/cache@2/x", "file:///srv/cache@2/x"),
    ("/srv/shared", "/srv/shared"),
    ("https://h/c?region=eu&page=2", "https://h/c?region=eu&page=2"),
])
def test_display_url_hides_credentials(url, shown):
    assert display_url(url) == shown


_userinfo = st.text(st.sampled_from("abcXYZ019-_.~%!$&'()*+,;="), min_size=6, max_size=20)  # RFC 3986
_query_value = st.text(st.sampled_from("abcXYZ019-_.~%+/="), min_size=6, max_size=20)  # percent-encoded


@given(user=_userinfo, password=_userinfo, token=_query_value)
def test_no_secret_of_the_url_survives_in_any_form(user, password, token):
    url = f"https://{user}:{password}@example.com/cache?token={token}"
    shown = display_url(url)
    said = describe_error(OSError(f"cannot reach {url}\nnor '{user}:{password}' ({token})"), remote_secrets(url))
    for secret in (password, token):
        assert secret not in shown.removeprefix("https://***@example.com/cache?token=")
        assert secret not in said.replace("***", "")


def test_error_text_quoting_what_it_misread_is_cleaned():
    """s3fs takes ``AKIA...:secret@bucket`` for a bucket name, and botocore's first line only
    introduces the line that says so."""
    settings = RemoteSettings("s3://AKIAXXXXXXXX:S3cretPassw0rd@bucket/p")
    err = ValueError('Parameter validation failed:\nInvalid bucket name "AKIAXXXXXXXX:S3cretPassw0rd@bucket": '
                     'Bucket name must match the regex "^[a-zA-Z0-9.\\-_]{1,255}$"')
    assert describe_error(err, settings.secrets) == (
        'ValueError: Parameter validation failed: Invalid bucket name "***@bucket": '
        'Bucket name must match the regex "^[a-zA-Z0-9.\\-_]{1,255}$"')
    assert settings.shown == "s3://***@bucket/p" and settings.url.startswith("s3://AKIA")


def test_a_password_with_a_slash_is_hidden_where_a_client_quotes_part_of_it():
    """``s3://KEY:SECRET@bucket`` with a "/" in SECRET: botocore takes ``KEY:SECR`` (up to the
    slash) for the bucket name, and its message quotes it; the URL was shown whole, the secret
    in it, in warnings and in the run history."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    settings = RemoteSettings(f"s3://AKIAIOSFODNN7EXAMPLE:{secret}@bkt/cache")
    err = ValueError('Parameter validation failed:\nInvalid bucket name "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI": '
                     'Bucket name must match the regex')
    said = describe_error(err, settings.secrets)
    shown = redact_text(f"assetbuild --remote {settings.url} -q")
    for piece in secret.split("/"):
        assert piece not in said and piece not in settings.shown and piece not in shown, (said, shown)
    assert settings.shown == "s3://***@bkt/cache" and shown == "assetbuild --remote s3://***@bkt/cache -q"


def test_describe_error_is_one_line_of_bounded_length():
    said = describe_error(RuntimeError("x" * 1000 + "\nsecond line"))
    assert "\n" not in said and len(said) < 300 and said.endswith("…")
    assert describe_error(RuntimeError("first\nsecond")) == "RuntimeError: first"
    assert describe_error(TimeoutError()) == "TimeoutError"


def test_secret_storage_options_are_hidden_in_errors():
    settings = RemoteSettings("s3://bucket/p", options={"key": "AKIAXXXX", "secret": "s3cr3t-value",
                                                        "client_kwargs": {"aws_session_token": "tok-123"},
                                                        "endpoint_url": "http://127.0.0.1:9000"})
    assert set(settings.secrets) == {"AKIAXXXX", "s3cr3t-value", "tok-123"}
    said = describe_error(OSError("signed with AKIAXXXX/s3cr3t-value/tok-123 at http://127.0.0.1:9000"),
                          settings.secrets)
    assert said == "OSError: signed with ***/***/*** at http://127.0.0.1:9000"


def test_a_command_line_is_cleaned_of_urls_and_secret_options():
    typed = ("assetbuild --remote https://alice:pw@h/c build --remote-option secret=abc "
             "--remote-option 'token=a b' --remote-option=endpoint_url=http://127.0.0.1:1 "
             "--remote-option 'client_kwargs={\"aws_secret_access_key\": \"x\"}' --remote=s3://k:s@b/p")
    assert redact_text(typed) == (
        "assetbuild --remote https://***@h/c build --remote-option secret=*** "
        "--remote-option 'token=***' --remote-option=endpoint_url=http://127.0.0.1:1 "
        "--remote-option 'client_kwargs=***' --remote=s3://***@b/p")


def test_a_run_recorded_with_credentials_by_an_older_assetbuild_is_shown_without_them():
    from assetbuild.reports import RunRecord
    from assetbuild.session.history import run_json

    typed = "assetbuild --remote https://alice:S3cretPassw0rd@h/c --remote-option secret=abcdef"
    doc = run_json(RunRecord(1, typed, (), 0, 0, {}, 0, {}))
    assert doc["command"] == "assetbuild --remote https://***@h/c --remote-option secret=***"
