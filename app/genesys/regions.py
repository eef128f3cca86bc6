"""Genesys Cloud regions and the two hosts each one has.

A tenant picks a region once; the API lives on `api.{domain}` and OAuth on `login.{domain}`.
Not every domain is `*.pure.cloud` (mypurecloud.com/.ie/.de/.jp/.com.au, the FedRAMP and EU
sovereign clouds), so the table is spelled out rather than derived from the AWS region name.
The sandbox and the tests point both hosts at the simulator with overrides; an override holding
`{domain}` keeps one host per region (the sandbox's regional host names).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    key: str
    label: str
    domain: str


@dataclass(frozen=True)
class GenesysHosts:
    api_base: str
    login_base: str
    # Where agent media lives (`api-downloads.{domain}`, external-contracts §G9): the only
    # base an attachment is fetched from with the tenant's token. None: none is fetched.
    downloads_base: str | None = None


# Keys are the SDK's region names (purecloud_region_hosts.py), so a tenant's saved choice
# stays readable next to Genesys' own documentation.
REGIONS: tuple[Region, ...] = (
    Region("us_east_1", "Americas (US East)", "mypurecloud.com"),
    Region("us_east_2", "Americas (US East 2, FedRAMP)", "use2.us-gov-pure.cloud"),
    Region("us_west_2", "Americas (US West)", "usw2.pure.cloud"),
    Region("ca_central_1", "Americas (Canada)", "cac1.pure.cloud"),
    Region("sa_east_1", "Americas (São Paulo)", "sae1.pure.cloud"),
    Region("mx_central_1", "Americas (Mexico)", "mxc1.pure.cloud"),
    Region("eu_west_1", "EMEA (Dublin)", "mypurecloud.ie"),
    Region("eu_west_2", "EMEA (London)", "euw2.pure.cloud"),
    Region("eu_central_1", "EMEA (Frankfurt)", "mypurecloud.de"),
    Region("eu_central_2", "EMEA (Zurich)", "euc2.pure.cloud"),
    Region("eusc_de_east_1", "EMEA (EU Sovereign Cloud, Germany)", "edee1.eusc-pure.cloud"),
    Region("me_central_1", "EMEA (UAE)", "mec1.pure.cloud"),
    Region("ap_south_1", "Asia Pacific (Mumbai)", "aps1.pure.cloud"),
    Region("ap_northeast_1", "Asia Pacific (Tokyo)", "mypurecloud.jp"),
    Region("ap_northeast_2", "Asia Pacific (Seoul)", "apne2.pure.cloud"),
    Region("ap_northeast_3", "Asia Pacific (Osaka)", "apne3.pure.cloud"),
    Region("ap_southeast_1", "Asia Pacific (Singapore)", "apse1.pure.cloud"),
    Region("ap_southeast_2", "Asia Pacific (Sydney)", "mypurecloud.com.au"),
)

_BY_KEY = {region.key: region for region in REGIONS}


def region_by_key(key: str) -> Region | None:
    return _BY_KEY.get(key)


def hosts_for(
    region_key: str,
    *,
    api_override: str | None,
    login_override: str | None,
    downloads_override: str | None = None,
) -> GenesysHosts:
    """Hosts for a region; an override (sandbox, tests) replaces that host whatever the region.

    Raises `ValueError` for an unknown region unless both hosts are overridden, so a typo in a
    stored region fails loudly instead of sending credentials to a made-up host. The downloads
    host is the region's unless overridden; with an unknown region and no override, none.
    """
    region = region_by_key(region_key)
    overrides = (api_override, login_override, downloads_override)
    templated = any(_DOMAIN in _placeholder(o) for o in overrides if o)
    if region is None and (api_override is None or login_override is None or templated):
        raise ValueError(f"unknown Genesys Cloud region {region_key!r}")
    domain = region.domain if region is not None else ""
    api = _placeholder(api_override).replace(_DOMAIN, domain) or f"https://api.{domain}"
    login = _placeholder(login_override).replace(_DOMAIN, domain) or f"https://login.{domain}"
    downloads = _placeholder(downloads_override).replace(_DOMAIN, domain) or (
        f"https://api-downloads.{domain}" if region is not None else ""
    )
    return GenesysHosts(
        api_base=api.rstrip("/"),
        login_base=login.rstrip("/"),
        downloads_base=downloads.rstrip("/") or None,
    )


# An override may name the region's domain, `http://localhost:8002/api.{domain}`: the sandbox
# serves each region under its own host name, so a wrong region fails there as it does live.
_DOMAIN = "{domain}"


def _placeholder(override: str | None) -> str:
    """URL settings arrive percent-encoded (`%7Bdomain%7D`); put the braces back."""
    return (override or "").replace("%7Bdomain%7D", _DOMAIN).replace("%7bdomain%7d", _DOMAIN)
