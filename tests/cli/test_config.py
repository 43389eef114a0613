"""Configuration: flag > environment > config file > default, and clear errors when something is missing."""
from __future__ import annotations

import json

import pytest

from mturk_decisions_cli import config
from mturk_decisions_cli.errors import ConfigError

FILE_URL = "https://file0000.execute-api.eu-west-1.amazonaws.com/v1"
ENV_URL = "https://env00000.execute-api.us-west-2.amazonaws.com/v1"
FLAG_URL = "http://127.0.0.1:8787/v1/"


class TestApiUrl:
    def test_flag_wins_over_env_and_file(self):
        # Given a URL in all three places
        # When resolved
        resolved = config.resolve_api_url(FLAG_URL, {config.API_URL_ENV: ENV_URL}, {"apiUrl": FILE_URL})
        # Then the flag's, without its trailing slash
        assert (resolved.value, resolved.source) == ("http://127.0.0.1:8787/v1", "--api-url")

    def test_env_wins_over_file(self):
        # When
        resolved = config.resolve_api_url(None, {config.API_URL_ENV: ENV_URL}, {"apiUrl": FILE_URL})
        # Then
        assert (resolved.value, resolved.source) == (ENV_URL, config.API_URL_ENV)

    def test_file_is_the_last_resort(self, tmp_path):
        # When
        resolved = config.resolve_api_url(None, {}, {"apiUrl": FILE_URL + "/"}, tmp_path / "config.json")
        # Then
        assert resolved.value == FILE_URL and resolved.source.startswith("config file")

    def test_none_anywhere_is_a_config_error_saying_where_to_put_it(self, tmp_path):
        # When / Then
        with pytest.raises(ConfigError) as raised:
            config.resolve_api_url(None, {}, {}, tmp_path / "config.json")
        assert "No API URL" in raised.value.message
        assert "--api-url" in raised.value.hint and config.API_URL_ENV in raised.value.hint
        assert str(tmp_path / "config.json") in raised.value.hint

    @pytest.mark.parametrize("url", ["ftp://x/prod", "not a url", "https://x/prod?stage=1"])
    def test_a_bad_url_is_refused(self, url):
        # When / Then
        with pytest.raises(ConfigError):
            config.resolve_api_url(url, {}, {})


class TestConfigFile:
    def test_path_override_xdg_and_default(self, tmp_path):
        # When / Then
        assert config.config_file_path({config.CONFIG_PATH_ENV: str(tmp_path / "c.json")}) == tmp_path / "c.json"
        assert config.config_file_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "mturk-decisions" / "config.json"
        assert config.config_file_path({}).parts[-3:] == (".config", "mturk-decisions", "config.json")

    def test_missing_file_is_empty(self, tmp_path):
        # When / Then
        assert config.load_config_file(tmp_path / "nope.json") == {}

    @pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
    def test_invalid_file_is_a_config_error(self, tmp_path, content):
        # Given
        path = tmp_path / "config.json"
        path.write_text(content)
        # When / Then
        with pytest.raises(ConfigError) as raised:
            config.load_config_file(path)
        assert str(path) in raised.value.message


class TestRegion:
    def test_flag_wins(self):
        # When / Then
        assert config.resolve_region("ap-south-1", ENV_URL, {"AWS_REGION": "eu-central-1"}, {}).value == "ap-south-1"

    def test_an_execute_api_url_names_the_region_to_sign_for(self):
        # When
        resolved = config.resolve_region(None, ENV_URL, {"AWS_REGION": "eu-central-1"}, {})
        # Then
        assert (resolved.value, resolved.source) == ("us-west-2", "the API URL")

    def test_env_then_default_region_env_then_file_then_profile_then_us_east_1(self):
        # Given
        local = "http://127.0.0.1:8787/v1"
        env = {"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-3"}
        # When / Then
        assert config.resolve_region(None, local, env, {"region": "sa-east-1"}).value == "eu-central-1"
        assert config.resolve_region(None, local, {"AWS_DEFAULT_REGION": "eu-west-3"}, {}).value == "eu-west-3"
        assert config.resolve_region(None, local, {}, {"region": "sa-east-1"}, "ca-central-1").value == "sa-east-1"
        assert config.resolve_region(None, local, {}, {}, "ca-central-1").value == "ca-central-1"
        assert config.resolve_region(None, local, {}, {}).value == "us-east-1"

    def test_custom_domains_carry_no_region(self):
        # When / Then
        assert config.region_of_url("https://decisions.example.com/prod") is None
        assert config.region_of_url("https://abc123.execute-api.eu-north-1.amazonaws.com/v1") == "eu-north-1"


class TestThroughTheCli:
    """Given no fake client, the CLI resolves its configuration like a requester's machine would."""

    def test_given_no_api_url_then_exit_6_with_how_to_configure(self, isolated_env):
        # Given no API URL anywhere (an isolated environment)
        from click.testing import CliRunner

        from mturk_decisions_cli.main import cli

        # When
        result = CliRunner().invoke(cli, ["show", "3XAMPLEASSIGNMENT0000000000001"])
        # Then
        assert result.exit_code == 6
        assert "No API URL configured" in result.stderr and "MTURK_DECISIONS_API_URL" in result.stderr
        assert result.stdout == ""

    def test_given_url_but_no_credentials_then_exit_6_no_aws_credentials_found(self, isolated_env, monkeypatch):
        # Given
        from click.testing import CliRunner

        from mturk_decisions_cli.main import cli

        monkeypatch.setenv("MTURK_DECISIONS_API_URL", "http://127.0.0.1:9/v1")
        # When
        result = CliRunner().invoke(cli, ["show", "3XAMPLEASSIGNMENT0000000000001"])
        # Then
        assert result.exit_code == 6
        assert "No AWS credentials found" in result.stderr and "aws configure" in result.stderr

    def test_given_unknown_profile_then_exit_6_naming_it(self, isolated_env, monkeypatch):
        # Given
        from click.testing import CliRunner

        from mturk_decisions_cli.main import cli

        monkeypatch.setenv("MTURK_DECISIONS_API_URL", "http://127.0.0.1:9/v1")
        # When
        result = CliRunner().invoke(cli, ["--profile", "nosuchprofile", "show", "3XAMPLEASSIGNMENT0000000000001"])
        # Then
        assert result.exit_code == 6 and "nosuchprofile" in result.stderr

    def test_given_config_file_and_profile_then_they_are_used(self, isolated_env, monkeypatch):
        # Given a config file with the URL and a profile that has keys and a region
        from mturk_decisions_cli.main import App

        (isolated_env / "config.json").write_text(json.dumps({"apiUrl": "http://127.0.0.1:9/v1/", "profile": "cli"}))
        (isolated_env / "aws-credentials").write_text(
            "[cli]\naws_access_key_id = FAKEPROFILEKEY000001\naws_secret_access_key = fake-profile-secret\n")
        (isolated_env / "aws-config").write_text("[profile cli]\nregion = eu-west-1\n")
        # When the client is built
        client = App().build_client()
        # Then it has the file's URL, the profile's keys and the profile's region
        assert client.base_url == "http://127.0.0.1:9/v1"
        assert client.credentials.access_key == "FAKEPROFILEKEY000001"
        assert client.region == "eu-west-1"

    def test_given_env_url_then_it_beats_the_config_file(self, isolated_env, monkeypatch):
        # Given
        from mturk_decisions_cli.main import App

        (isolated_env / "config.json").write_text(json.dumps({"apiUrl": FILE_URL}))
        monkeypatch.setenv("MTURK_DECISIONS_API_URL", ENV_URL)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FAKEENVKEY0000000001")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-env-secret")
        # When
        client = App().build_client()
        # Then
        assert client.base_url == ENV_URL and client.region == "us-west-2"
        assert App(api_url=FLAG_URL).build_client().base_url == FLAG_URL.rstrip("/")
