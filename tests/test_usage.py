"""Usage and cost (issue 14): each user's Usage page (per day as a chart and a table, per model, 7/30/90 days, CSV),
the admin's dashboard (per user, per model, per day, top spenders; staff with its permission only), and the monthly
budget an admin sets (past it, replies on paid models are refused in the composer; the offline assistant, free
models and the user's own keys still answer)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.services import SYSTEM, provider_key_save
from catalog.charts import bar_chart, nice_ceiling
from catalog.selectors import month_spend, next_month_start, usage_by_day
from conversations.models import Conversation, Message, Stream
from tests.factories import ConversationFactory, GuestFactory, MessageFactory, UsageLogFactory, UserFactory

pytestmark = pytest.mark.django_db


def days_ago(days: int, hour: int = 12) -> dt.datetime:
    """Noon (by default) `days` days before today, in the server's time zone."""
    today = timezone.localdate() - dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(today, dt.time(hour)))


def log(user, *, days: int = 0, provider="anthropic", model="claude-sonnet-5-5", cost="0.010000", own_key=False,
        input_tokens=1_000, output_tokens=200):  # fmt: skip
    return UsageLogFactory(
        conversation=ConversationFactory(user=user), user=user, provider=provider, model=model,
        input_tokens=input_tokens, output_tokens=output_tokens, cost=None if cost is None else Decimal(cost),
        own_key=own_key, created_at=days_ago(days),
    )  # fmt: skip


def text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def history(user):
    """The user's replies over four months, and another user's that must never show."""
    log(user, days=0, cost="0.500000", input_tokens=10_000, output_tokens=1_000)
    log(user, days=0, provider="openai", model="gpt-5.4-nano", cost="0.000123", input_tokens=400, output_tokens=20)
    log(user, days=3, provider="mistral", model="mistral-large-latest", cost=None, input_tokens=50, output_tokens=5)
    log(user, days=20, cost="1.250000", input_tokens=30_000, output_tokens=5_000)
    log(user, days=60, provider="offline", model="offline", cost="0", input_tokens=0, output_tokens=80)
    log(user, days=120, cost="9.000000")  # outside every period
    log(UserFactory(), days=0, cost="7.770000", input_tokens=999_999)
    return user


# --- The Usage page ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "replies", "input_tokens", "output_tokens", "cost"),
    [
        (7, 3, 10_450, 1_025, "$0.5001"),  # 0.500000 + 0.000123 (the Mistral reply's cost is unknown)
        (30, 4, 40_450, 6_025, "$1.75"),
        (90, 5, 40_450, 6_105, "$1.75"),
    ],
)
def test_the_usage_page_adds_up_the_users_own_replies(user_client, history, days, replies, input_tokens,
                                                      output_tokens, cost):  # fmt: skip
    response = user_client.get(reverse("accounts:usage"), {"days": days})
    assert response.status_code == 200
    page = text(response)
    totals = re.search(r"Requests\s+(\S+)\s+Input tokens\s+(\S+)\s+Output tokens\s+(\S+)\s+Cost\s+(\S+)", page)
    assert totals.groups() == (f"{replies:,}", f"{input_tokens:,}", f"{output_tokens:,}", cost)
    assert "7.77" not in page and "999,999" not in page, "another user's usage never shows"
    assert "1 request on models whose price is unknown is not in the cost." in page


def test_the_calls_that_name_a_chat_are_counted_as_requests_not_as_replies(user, user_client):
    """The walk's user saw "GPT-5.4 nano: 6 replies" beside "Replies 19" after 13 replies, none from nano: the calls
    that title each chat on the provider's small model were counted as replies. They are requests, and said so."""
    reply = log(user, provider="openai", model="gpt-5.5")
    UsageLogFactory(conversation=reply.conversation, user=user, provider="openai", model="gpt-5.4-nano",
                    input_tokens=60, output_tokens=6, cost=Decimal("0.000010"), created_at=days_ago(0))  # fmt: skip
    page = text(user_client.get(reverse("accounts:usage")))
    assert re.search(r"Requests\s+2\s+Input tokens", page)
    assert "Replies" not in page
    assert "each reply, and the short ones that name a chat after its first reply" in page


def test_the_usage_page_lists_models_most_expensive_first_and_each_day(user_client, history):
    page = user_client.get(reverse("accounts:usage"), {"days": 30}).content.decode()
    page = re.sub(r' data-label="[^"]*"', "", page)  # each cell's label for a phone's cards
    per_model = page.split('id="per-model"', 1)[1]
    row = r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td><td>(\d+)</td>.*?<td>([^<]+)</td></tr>'
    rows = re.findall(row, per_model)
    assert rows == [
        ("Claude Sonnet 5.5", "Anthropic", "2", "$1.75"),
        ("GPT-5.4 nano", "OpenAI", "1", "$0.000123"),
        ("Mistral Large", "Mistral", "1", "unknown"),
    ]
    per_day = page.split('id="per-day"', 1)[1].split("</table>", 1)[0]
    assert per_day.count('<tr><th scope="row">') == 30, "every day of the period, newest first, zeros included"
    two_days_ago = f'datetime="{timezone.localdate() - dt.timedelta(days=2):%Y-%m-%d}"'
    quiet_day = per_day.split(two_days_ago, 1)[1].split("</tr>", 1)[0]
    assert quiet_day.endswith("<td>0</td><td>0</td><td>0</td><td>$0.00</td>"), "a day without use cost nothing"
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    assert per_day.index(f'datetime="{today:%Y-%m-%d}"') < per_day.index(f'datetime="{yesterday:%Y-%m-%d}"')


def test_the_charts_are_accessible_inline_svg_with_the_table_beside(user_client, history):
    page = user_client.get(reverse("accounts:usage"), {"days": 7}).content.decode()
    assert page.count('<svg viewBox="0 0 640 200" role="img"') == 2
    assert '<title id="token-chart-title">Tokens per day, last 7 days</title>' in page
    description = re.search(r'<desc id="cost-chart-desc">([^<]+)</desc>', page).group(1)
    assert "$0.5001 in all, over 1 of 7 days; the most on" in html.unescape(description), "unknown costs: none"
    assert page.count('class="bar-chart-bar"') == 28, "one bar per day, chart and drawing (wide, phone)"
    assert "<script" not in page.split('id="per-day"', 1)[1], "drawn on the server"
    assert "<summary>Per day as a table</summary>" in page


def test_bar_geometry_scales_to_a_round_top():
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 7, 12, 240, 0.0042)] == pytest.approx([1, 0.5, 1, 10, 20, 250, 0.005])
    today = dt.date(2026, 11, 20)
    chart = bar_chart(
        title="t", points=[(today, 0), (today + dt.timedelta(1), 50), (today + dt.timedelta(2), 100)],
        format_value=str,
    )  # fmt: skip
    heights = [float(bar.height) for bar in chart.bars]
    assert heights == [0, 80, 160], "the plot is 160 units tall, 100 is its top"
    assert [label.text for label in chart.value_labels] == ["0", "50.0", "100"]
    assert chart.summary == "20 Nov to 22 Nov: 150 in all, over 2 of 3 days; the most on 22 Nov (100)."


def test_an_unknown_period_falls_back_to_30_days(user_client, history):
    for value in ("5", "-1", "abc", "99999999999999999999", "\x00"):
        page = user_client.get(reverse("accounts:usage"), {"days": value}).content.decode()
        assert "<h2>Totals</h2>" in page and 'aria-current="page">Last 30 days</a>' in page, value


def test_the_csv_has_one_row_per_day_and_model_of_the_period(user_client, history):
    response = user_client.get(reverse("accounts:usage_csv"), {"days": 30})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    filename = r'attachment; filename="usage-\d{4}-\d\d-\d\d-last-30-days\.csv"'
    assert re.fullmatch(filename, response["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    today, three, twenty = (timezone.localdate() - dt.timedelta(days) for days in (0, 3, 20))
    assert rows == [
        ["date", "provider", "model", "requests", "input_tokens", "output_tokens", "cost_usd"],
        [twenty.isoformat(), "anthropic", "claude-sonnet-5-5", "1", "30000", "5000", "1.250000"],
        [three.isoformat(), "mistral", "mistral-large-latest", "1", "50", "5", ""],
        [today.isoformat(), "anthropic", "claude-sonnet-5-5", "1", "10000", "1000", "0.500000"],
        [today.isoformat(), "openai", "gpt-5.4-nano", "1", "400", "20", "0.000123"],
    ]


def test_a_model_name_cannot_turn_into_a_spreadsheet_formula(user, user_client):
    log(user, provider="openai", model='=HYPERLINK("http://evil.example","x")', cost=None)
    log(user, provider="openai", model="-2+3", cost=None)
    rows = list(csv.reader(io.StringIO(user_client.get(reverse("accounts:usage_csv")).content.decode())))
    assert sorted(row[2] for row in rows[1:]) == ["'-2+3", '\'=HYPERLINK("http://evil.example","x")']


def test_usage_is_for_registered_users(client):
    for name in ("accounts:usage", "accounts:usage_csv"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]
        client.force_login(GuestFactory())
        assert client.get(reverse(name))["Location"] == reverse("account_signup")
        client.logout()


def test_the_settings_navigation_links_the_usage_page(user_client):
    page = user_client.get(reverse("accounts:usage")).content.decode()
    assert f'<a href="{reverse("accounts:usage")}" aria-current="page">Usage</a>' in page


# --- The admin's dashboard --------------------------------------------------------------------------------------


def dashboard(client, **params):
    return client.get(reverse("admin:catalog_usagedashboard_changelist"), params)


def test_the_dashboard_is_linked_from_the_admin_index(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("admin:catalog_usagedashboard_changelist")}"' in index and "Usage dashboard" in index


def test_the_dashboard_shows_top_spenders_per_model_and_per_day(admin_client, history):
    other = UserFactory(email="big.spender@example.com", monthly_budget=Decimal("20"))
    log(other, days=1, model="claude-opus-5-5", cost="3.000000")
    response = dashboard(admin_client, days=30)
    assert response.status_code == 200
    page = response.content.decode()
    spenders = page.split('id="top-spenders"', 1)[1].split("</table>", 1)[0]
    names = re.findall(r'<th scope="row"><a href="\?days=30&amp;user=[0-9a-f-]+">([^<]+)</a>', spenders)
    assert names[1:] == ["big.spender@example.com", str(history)], "the most spent first ($7.77, $3, $1.75)"
    assert "$20.00" in spenders, "the budget beside the spending"
    models = page.split('id="per-model"', 1)[1].split("</table>", 1)[0]
    assert "Claude Opus 5.5" in models and "Claude Sonnet 5.5" in models and "GPT-5.4 nano" in models
    assert page.count('class="bar-chart-bar"') == 60 and "Cost per day, last 30 days" in page


def test_the_dashboard_narrows_to_one_user(admin_client, history, user):
    page = text(dashboard(admin_client, days=90, user=str(user.id)))
    assert f"Usage of {user}" in page and "7.77" not in page and "Top spenders" not in page
    assert "$1.75" in page
    for hostile in ("not-a-uuid", "\x00", "00000000-0000-0000-0000-000000000000"):
        assert "Top spenders" in text(dashboard(admin_client, user=hostile)), "an unknown user: everyone's usage"


def test_only_staff_with_the_dashboards_permission_see_it(client, history):
    url = reverse("admin:catalog_usagedashboard_changelist")
    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"], "not staff: the admin's login"
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_usagedashboard"))
    assert client.get(url).status_code == 200


def test_the_admin_sets_a_users_monthly_budget(admin_client, user):
    page = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert 'name="monthly_budget"' in page and "Tokens and cost of this user" in page


# --- The monthly budget -----------------------------------------------------------------------------------------


@pytest.fixture
def over_budget(user, settings, fake_anthropic, fake_openai):
    settings.ANTHROPIC_API_KEY = "sk-ant-operator-key"
    user.monthly_budget = Decimal("1.00")
    user.save(update_fields=["monthly_budget"])
    log(user, cost="0.600000")
    log(user, cost="0.400000")
    return user


def send(client, conversation, content="Hello"):
    return client.post(
        reverse("conversations:message_create", args=[conversation.id]), {"content": content},
        headers={"HX-Request": "true"},
    )  # fmt: skip


def test_past_the_budget_a_reply_on_a_paid_model_is_refused_with_a_clear_message(user, user_client, over_budget):
    conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
    question = MessageFactory(conversation=conversation, role="user")
    reply = MessageFactory(conversation=conversation, role="assistant", parent=question)
    before = (Message.objects.count(), Stream.objects.count(), Conversation.objects.count())
    htmx = {"HX-Request": "true"}
    for response in (
        send(user_client, conversation),
        user_client.post(
            reverse("conversations:new"), {"content": "Hi", "model": "anthropic:claude-opus-5-5"}, headers=htmx
        ),
        user_client.post(reverse("conversations:regenerate", args=[conversation.id, reply.id]), headers=htmx),
        user_client.post(
            reverse("conversations:edit", args=[conversation.id, question.id]), {"content": "E"}, headers=htmx
        ),
    ):
        assert response.status_code == 429
        assert response["HX-Retarget"] == "#composer-error", "said in the composer"
        message = text(response).strip()
        renews = next_month_start()
        assert message == (
            "You have used your monthly budget of $1.00 for paid models ($1.00 this month). It renews on "
            f"{renews.day} {renews:%B} (UTC). The offline assistant still answers: choose it in the model menu."
        )
    assert (Message.objects.count(), Stream.objects.count(), Conversation.objects.count()) == before
    user.refresh_from_db()
    assert user.daily_message_count == 0, "a refused message costs no quota"


def test_past_the_budget_free_models_and_the_users_own_key_still_answer(user, over_budget, monkeypatch):
    from conversations import services

    for provider, model in (("offline", "offline"), ("ollama", "llama3.2:latest")):
        conversation = ConversationFactory(user=user, provider=provider, model=model)
        assert services.message_send(user=user, conversation_id=conversation.id, content="Hi") is not None
    paid = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-own-key-0123456789", client=SYSTEM)
    assert services.message_send(user=user, conversation_id=paid.id, content="Hi") is not None, "their own key"


def test_under_the_budget_and_without_one_replies_go_through(user, over_budget):
    from conversations import services

    conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
    user.monthly_budget = Decimal("1.01")
    assert services.message_send(user=user, conversation_id=conversation.id, content="Hi") is not None
    Stream.objects.filter(conversation=conversation).update(status=Stream.Status.COMPLETE)
    user.monthly_budget = None
    assert services.message_send(user=user, conversation_id=conversation.id, content="Again") is not None


def test_the_budget_counts_this_months_spending_on_the_operators_keys_only(user):
    log(user, cost="0.250000")
    log(user, cost="5.000000", own_key=True)  # paid by the user's own key
    log(user, cost=None)  # unknown
    now = timezone.now()
    last_month = (now.replace(day=1) - dt.timedelta(days=1)).replace(hour=12)
    old = log(user, cost="3.000000")
    old.created_at = last_month
    old.save(update_fields=["created_at"])
    assert month_spend(user_id=user.id) == Decimal("0.25")


def test_the_usage_page_shows_the_budget(user, user_client, over_budget):
    page = text(user_client.get(reverse("accounts:usage")))
    assert "$1.00 of $1.00 used this month on paid models: replies on paid models are paused until" in page
    assert 'value="100"' in user_client.get(reverse("accounts:usage")).content.decode()


def test_days_are_counted_in_the_servers_time_zone(user, settings):
    log(user, days=0, cost="0.1")
    by_day = usage_by_day(user_id=user.id, days=7)
    assert [day.day for day in by_day][-1] == timezone.localdate() and by_day[-1].replies == 1
    assert len(by_day) == 7 and sum(day.replies for day in by_day) == 1
