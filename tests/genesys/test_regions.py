from __future__ import annotations

import pytest

from app.genesys.regions import REGIONS, hosts_for, region_by_key

# Reference §1.1, copied here so a typo in either place fails.
REFERENCE_DOMAINS = {
    "us_east_1": "mypurecloud.com",
    "us_east_2": "use2.us-gov-pure.cloud",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "eu_west_1": "mypurecloud.ie",
    "eu_west_2": "euw2.pure.cloud",
    "eu_central_1": "mypurecloud.de",
    "eu_central_2": "euc2.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "ap_northeast_1": "mypurecloud.jp",
    "ap_northeast_2": "apne2.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "ap_southeast_2": "mypurecloud.com.au",
}


def test_every_reference_region_is_listed_once() -> None:
    assert {region.key: region.domain for region in REGIONS} == REFERENCE_DOMAINS
    assert len(REGIONS) == len(REFERENCE_DOMAINS)
    labels = [region.label for region in REGIONS]
    assert all(labels) and len(set(labels)) == len(labels)


def test_region_by_key() -> None:
    region = region_by_key("eu_central_1")
    assert region is not None and region.domain == "mypurecloud.de"
    assert region_by_key("eu-central-1") is None


@pytest.mark.parametrize("key", sorted(REFERENCE_DOMAINS))
def test_hosts_are_api_and_login_of_the_domain(key: str) -> None:
    hosts = hosts_for(key, api_override=None, login_override=None)
    assert hosts.api_base == f"https://api.{REFERENCE_DOMAINS[key]}"
    assert hosts.login_base == f"https://login.{REFERENCE_DOMAINS[key]}"


def test_overrides_win_and_lose_their_trailing_slash() -> None:
    hosts = hosts_for(
        "ap_southeast_2", api_override="http://127.0.0.1:9000/", login_override="http://sim:1/"
    )
    assert (hosts.api_base, hosts.login_base) == ("http://127.0.0.1:9000", "http://sim:1")
    one = hosts_for("us_west_2", api_override="http://sim", login_override=None)
    assert (one.api_base, one.login_base) == ("http://sim", "https://login.usw2.pure.cloud")


def test_unknown_region_needs_both_overrides() -> None:
    with pytest.raises(ValueError, match="unknown Genesys Cloud region"):
        hosts_for("mars_1", api_override="http://sim", login_override=None)
    hosts = hosts_for("sandbox", api_override="http://sim", login_override="http://sim")
    assert hosts.api_base == "http://sim"
