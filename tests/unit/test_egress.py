"""The egress policy: planned sites only, no private ranges unless a person allow-listed them."""

import pytest

from sandbox.egress import EgressPolicy, EgressRefused, blocked_range, validate_url


@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.20.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("100.64.0.1", "CGNAT"),
        ("0.0.0.0", "this-network"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("fd00:ec2::254", "unique-local"),
        ("::ffff:127.0.0.1", "loopback"),
    ],
)
def test_special_ranges_are_blocked(address, label):
    assert label in (blocked_range(address) or "")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_are_not_blocked(address):
    assert blocked_range(address) is None


def _rule(policy: EgressPolicy, url: str, *, navigation: bool = True) -> str | None:
    try:
        policy.check(url, navigation=navigation)
    except EgressRefused as refusal:
        return refusal.rule
    return None


def test_loopback_is_refused_unless_allow_listed_by_host_and_port():
    site = "http://127.0.0.1:8123/"
    assert _rule(EgressPolicy.for_sites([site]), site) == "private_address"
    allowed = EgressPolicy.for_sites([site], ["127.0.0.1:8123"])
    assert _rule(allowed, site + "pricing") is None
    # The allow-list names a port: another port on the same host stays refused.
    assert (
        _rule(
            EgressPolicy.for_sites(["http://127.0.0.1:9/"], ["127.0.0.1:8123"]),
            "http://127.0.0.1:9/",
        )
        == "private_address"
    )


def test_navigation_off_the_planned_sites_is_refused_but_subresources_are_range_checked_only():
    policy = EgressPolicy.for_sites(["http://127.0.0.1:8123/"], ["127.0.0.1"])
    assert _rule(policy, "http://127.0.0.1:8124/") == "off_plan"
    assert _rule(policy, "http://127.0.0.1:8124/app.js", navigation=False) is None
    assert (
        _rule(policy, "http://169.254.169.254/latest/meta-data", navigation=False)
        == "private_address"
    )
    assert _rule(policy, "data:image/png;base64,AAAA", navigation=False) is None
    assert _rule(policy, "file:///etc/passwd", navigation=False) == "scheme"


def test_refusal_message_names_the_rule_and_how_to_allow():
    with pytest.raises(EgressRefused) as info:
        EgressPolicy().check("http://localhost:6379/")
    assert info.value.rule == "private_address"
    assert "--allow-host localhost:6379" in str(info.value)


@pytest.mark.parametrize(
    ("url", "rule"),
    [("", "scheme"), ("javascript:alert(1)", "scheme"), ("http:///path", "malformed_url")],
)
def test_validate_url_rejects_what_cannot_be_browsed(url, rule):
    with pytest.raises(EgressRefused) as info:
        validate_url(url)
    assert info.value.rule == rule
