"""The dashboard in a real browser: Debian's Chromium on ``wascc up --admin``'s ``/ui``, with
sample actors on the demo providers. Each test leaves screenshots in its temporary directory."""

from __future__ import annotations

import json
import re

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.conftest import Signer, module_path
from tests.process.test_process_up import get, post
from tests.ui.browser import PHONE, Browser
from tests.ui.conftest import Dashboard, Load
from wascc.keys.claims import sign_module

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def number(text: str) -> float:
    """The number a cell starts with (``"12.5/s"`` → 12.5)."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)", text)
    if match is None:
        raise ValueError(f"no number in {text!r}")
    return float(match.group(1))


def logged_in(browser: Browser, dashboard: Dashboard) -> None:
    """Open the dashboard and log in with the host's token."""
    browser.open(dashboard.url)
    browser.login(dashboard.token)
    browser.wait(lambda: browser.all("#actors tr[data-actor]"), "the actors table")


def row(dashboard: Dashboard, name: str) -> str:
    """The CSS selector of actor ``name``'s row."""
    return f'#actors tr[data-actor="{dashboard.keys[name]}"]'


def inventory(dashboard: Dashboard) -> dict[str, object]:
    status, body = get(
        f"http://{dashboard.process.admin()}/inventory", headers=dashboard.process.auth()
    )
    assert status == 200, body
    answer: dict[str, object] = json.loads(body)
    return answer


def test_without_the_token_the_page_shows_the_login_and_no_data(
    browser: Browser, dashboard: Dashboard
) -> None:
    browser.open(dashboard.url)
    browser.wait(lambda: browser.visible("#login"), "the login form")
    assert not browser.visible("#app")
    browser.screenshot("login")

    def shows_no_data() -> None:
        source = browser.driver.page_source
        for name, key in dashboard.keys.items():
            assert key not in source, name
            assert name not in source, name
        assert browser.all("#actors tr[data-actor]") == []

    shows_no_data()
    browser.login("not-the-token")
    message = browser.wait(lambda: browser.text("#login-error"), "the login error")
    assert "wrong admin token" in message
    assert browser.visible("#login")
    assert not browser.visible("#app")
    shows_no_data()
    browser.screenshot("wrong-token")
    # Nothing left this host: every file and request went to the admin endpoint.
    origin = dashboard.url.removesuffix("/ui")
    assert all(url.startswith(origin + "/") for url in browser.requested())


def test_the_graph_shows_the_actors_and_their_bindings(
    browser: Browser, dashboard: Dashboard
) -> None:
    logged_in(browser, dashboard)
    assert browser.visible("#app")
    assert not browser.visible("#login")
    for name, key in dashboard.keys.items():
        assert browser.text(f"{row(dashboard, name)} .name") == name
        assert browser.text(f"{row(dashboard, name)} .key") == key
        assert browser.text(f"{row(dashboard, name)} .rev") == "1"
        assert browser.all(f'#graph g.node.actor[data-key="{key}"]')
    assert browser.text(f"{row(dashboard, 'kvcounter')} .caps").count("wascc:") == 2
    bindings = inventory(dashboard)["bindings"]
    assert isinstance(bindings, list)
    assert len(bindings) == 4
    for binding in bindings:
        edge = (
            f'#graph g.edge[data-actor="{binding["actor"]}"]'
            f'[data-contract="{binding["contract_id"]}"][data-binding="{binding["binding"]}"]'
        )
        assert browser.all(edge), edge
        assert browser.text(f"{edge} text") == binding["binding"]
    for contract in ("wascc:http_server", "wascc:keyvalue"):
        assert browser.all(f'#graph g.node.provider[data-contract="{contract}"]')
    assert browser.text("#host-labels").count("=") == 2
    assert "ui-host" in browser.text("#host-labels")
    assert browser.text("#host-lattice") == "standalone"
    assert re.fullmatch(r"N[A-Z2-7]{55}", browser.text("#host-id"))
    browser.screenshot("dashboard")
    assert browser.console_errors() == []


def test_requests_raise_the_actors_rate_on_the_page_within_5_seconds(
    browser: Browser, dashboard: Dashboard
) -> None:
    logged_in(browser, dashboard)
    rate = f"{row(dashboard, 'echo')} .rate"
    assert number(browser.text(rate)) == 0
    load = Load(dashboard.actor_url("echo") + "/hello")
    try:
        seen = browser.wait(lambda: number(browser.text(rate)), "echo's rate to rise", timeout=5)
    finally:
        load.stop()
    assert seen > 0
    assert number(browser.text(f"{row(dashboard, 'echo')} .errors")) == 0
    assert number(browser.text(f"{row(dashboard, 'kvcounter')} .rate")) == 0
    label = browser.find(f"{row(dashboard, 'echo')} .chart").get_attribute("aria-label") or ""
    assert "echo" in label
    browser.screenshot("rate")


def test_a_trap_shows_in_the_events_and_the_error_rate(
    browser: Browser, dashboard: Dashboard
) -> None:
    logged_in(browser, dashboard)
    load = Load(dashboard.actor_url("crasher") + "/boom", every=0.1)
    try:
        trap = browser.wait(
            lambda: browser.all('#events li[data-type="actor_trapped"]'), "the trap event"
        )[0]
        assert "crasher" in (trap.get_attribute("textContent") or "")
        errors = f"{row(dashboard, 'crasher')} .errors"
        browser.wait(lambda: number(browser.text(errors)), "crasher's error rate", timeout=5)
    finally:
        load.stop()
    assert get(dashboard.actor_url("echo"))[0] == 200  # the host kept serving the others
    browser.screenshot("trap")


def test_a_live_update_from_the_page_changes_the_revision_shown(
    browser: Browser, dashboard: Dashboard
) -> None:
    logged_in(browser, dashboard)
    rev = f"{row(dashboard, 'echo')} .rev"

    def upload(name: str, *, confirm: bool = True) -> None:
        browser.find("#update-file").send_keys(str(dashboard.files / name))
        browser.find("#update-submit").click()
        browser.wait(lambda: browser.visible("#confirm"), "the confirmation")
        assert name in browser.text("#confirm-text")
        browser.find("#confirm-yes" if confirm else "#confirm-no").click()

    # Another account's module for the same actor: refused, as by the endpoint.
    upload("echo_other.wasm")
    refused = browser.wait(
        lambda: re.search(r"account|issuer", browser.text("#answer")), "the host's refusal"
    )
    assert refused is not None
    assert browser.text(rev) == "1"
    browser.screenshot("update-refused")
    # Cancelled: nothing is sent.
    upload("echo_r2.wasm", confirm=False)
    assert not browser.visible("#confirm")
    assert browser.text(rev) == "1"
    upload("echo_r2.wasm")
    browser.wait(lambda: "rev 2" in browser.text("#answer"), "the host's answer")
    browser.wait(lambda: browser.text(rev) == "2", "the new revision in the table")
    browser.wait(
        lambda: browser.all('#events li[data-type="actor_update_complete"]'), "the update event"
    )
    assert get(dashboard.actor_url("echo") + "/after")[0] == 200
    browser.screenshot("updated")


def test_stop_asks_first_then_stops_the_actor(browser: Browser, dashboard: Dashboard) -> None:
    logged_in(browser, dashboard)
    stop = f"{row(dashboard, 'kvcounter')} .stop"
    browser.find(stop).click()
    browser.wait(lambda: browser.visible("#confirm"), "the confirmation")
    assert "kvcounter" in browser.text("#confirm-text")
    browser.find("#confirm-text").send_keys(Keys.ESCAPE)
    browser.wait(lambda: not browser.visible("#confirm"), "the dialog to close")
    assert browser.all(row(dashboard, "kvcounter"))
    browser.find(stop).click()
    browser.wait(lambda: browser.visible("#confirm"), "the confirmation")
    browser.find("#confirm-yes").click()
    browser.wait(lambda: "Stopped kvcounter" in browser.text("#answer"), "the host's answer")
    browser.wait(lambda: not browser.all(row(dashboard, "kvcounter")), "the row to go")
    browser.wait(
        lambda: "kvcounter" in browser.text('#events li[data-type="actor_stopped"]'),
        "the stop event naming the actor",
    )
    actors = inventory(dashboard)["actors"]
    assert isinstance(actors, list)
    assert sorted(a["name"] for a in actors) == ["crasher", "echo"]
    browser.screenshot("stopped")


def test_on_a_phone_and_with_the_keyboard_alone(browser: Browser, dashboard: Dashboard) -> None:
    browser.resize(PHONE)
    browser.open(dashboard.url)
    browser.wait(lambda: browser.visible("#token"), "the login")
    # The token field has the focus: typing and Enter log in.
    focused = browser.driver.switch_to.active_element
    assert focused.get_attribute("id") == "token"
    focused.send_keys(dashboard.token + Keys.ENTER)
    browser.wait(lambda: browser.all("#actors tr[data-actor]"), "the actors table")
    wide = browser.script("return document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide}px at {PHONE}"
    browser.screenshot("phone")
    # Tab reaches every action: each stop button, the file field, the update button, logout.
    reached: set[str] = set()
    browser.script("document.activeElement && document.activeElement.blur()")
    keys = ActionChains(browser.driver)
    for _ in range(80):
        keys.send_keys(Keys.TAB).perform()
        element = browser.driver.switch_to.active_element
        reached.add(
            element.get_attribute("id")
            or " ".join(filter(None, [element.tag_name, element.get_attribute("class")]))
        )
    assert {"logout", "update-file", "update-submit"} <= reached, reached
    assert any("stop" in name for name in reached), reached
    browser.resize((1280, 800))
    wide = browser.script("return document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0


def test_logging_out_forgets_the_token_and_the_data(browser: Browser, dashboard: Dashboard) -> None:
    logged_in(browser, dashboard)
    assert browser.script("return sessionStorage.length") == 1
    browser.find("#logout").click()
    browser.wait(lambda: browser.visible("#login"), "the login form")
    assert not browser.visible("#app")
    assert browser.script("return sessionStorage.length") == 0
    assert dashboard.keys["echo"] not in browser.driver.page_source
    assert browser.driver.switch_to.active_element.get_attribute("id") == "token"
    # A reload does not log in again: the token is gone.
    browser.open(dashboard.url)
    browser.wait(lambda: browser.visible("#login"), "the login form after a reload")
    assert browser.all("#actors tr[data-actor]") == []


def test_names_from_a_module_are_shown_as_text_never_as_markup(
    browser: Browser, dashboard: Dashboard, signer: Signer
) -> None:
    """A signed module names itself: the page writes the name as text."""
    markup = '<img id="injected" src="x" onerror="document.title=1">'
    module = sign_module(
        module_path("echo").read_bytes(),
        issuer=signer.account,
        subject=signer.module_key("echo"),
        name=markup,
        caps=["wascc:http_server"],
        rev=5,
    )
    (dashboard.files / "renamed.wasm").write_bytes(module)
    logged_in(browser, dashboard)
    browser.find("#update-file").send_keys(str(dashboard.files / "renamed.wasm"))
    browser.find("#update-submit").click()
    browser.wait(lambda: browser.visible("#confirm"), "the confirmation")
    browser.find("#confirm-yes").click()
    name = f"{row(dashboard, 'echo')} .name"
    browser.wait(lambda: browser.text(name) == markup, "the new name, as text")
    assert browser.all("#injected") == []
    assert browser.script("return document.title") != "1"
    assert browser.console_errors() == []


def test_the_health_column_follows_the_checks(
    browser: Browser, checked_dashboard: Dashboard
) -> None:
    """Each actor's last verdict is in its row, and a change shows within a check or two,
    with an event saying what the actor said. A refused call alias is an event too."""
    dashboard = checked_dashboard
    logged_in(browser, dashboard)

    def health(name: str) -> str:
        return browser.text(f"{row(dashboard, name)} td.health")

    browser.wait(lambda: health("wcponger") == "healthy", "wcponger checked healthy")
    browser.wait(lambda: health("crasher") == "unhealthy", "crasher checked unhealthy")
    assert health("echo") in ("not checked", "no checks")  # 0.14 without HealthRequest
    crasher = browser.find(f"{row(dashboard, 'crasher')} td.health .chip")
    assert (crasher.get_attribute("title") or "").startswith("HealthRequest failed:")

    status, body = post(
        f"http://{dashboard.process.admin()}/actors/wcponger/call/SetHealth",
        b'{"healthy": false, "message": "db down"}',
        headers={**dashboard.process.auth(), "Content-Type": "application/json"},
    )
    assert status == 200, body
    browser.wait(lambda: health("wcponger") == "unhealthy", "wcponger shown unhealthy")
    chip = browser.find(f"{row(dashboard, 'wcponger')} td.health .chip")
    assert chip.get_attribute("title") == "db down"
    events = browser.wait(lambda: browser.text("#events"), "the events")
    assert "wcponger is unhealthy: db down" in events
    assert "understudy runs without the call alias wasmcloud/examples/ponger: actor " in events
    assert health("understudy") == "healthy"
    assert browser.console_errors() == []
    browser.screenshot("health")
