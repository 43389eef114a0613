import logging

from mturk_decisions.observability import SecretRedactor


def test_given_a_botocore_response_body_with_secret_string_when_logged_then_masked(caplog):
    # Given
    redactor = SecretRedactor()
    log = logging.getLogger("botocore.parsers.test")
    log.setLevel(logging.DEBUG)
    log.addFilter(redactor)
    caplog.set_level(logging.DEBUG)
    # When
    log.debug("Response body:\n%s", b'{"Name": "s", "SecretString": "{\\"secretAccessKey\\": \\"abc123secret\\"}"}')
    # Then
    assert "abc123secret" not in caplog.text and "redacted" in caplog.text


def test_given_a_remembered_value_anywhere_in_a_record_then_masked(caplog):
    # Given
    redactor = SecretRedactor()
    redactor.remember("remembered-secret")
    log = logging.getLogger("urllib3.test")
    log.setLevel(logging.DEBUG)
    log.addFilter(redactor)
    caplog.set_level(logging.DEBUG)
    # When
    log.debug("header %s", "x remembered-secret y")
    # Then
    assert "remembered-secret" not in caplog.text
