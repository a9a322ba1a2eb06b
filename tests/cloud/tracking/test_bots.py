"""Bot detection on real user agents: what fetchers, previews, proxies and scanners send, and people."""

import pytest

from cloud.tracking.bots import classify, is_bot

PEOPLE = [
    # iPhone Safari, Android Chrome, desktop Chrome/Firefox/Edge, Yandex Browser
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
    "YaBrowser/24.4.0.0 Safari/537.36",
    # In-app browsers: a person reading the receipt inside Telegram, Viber, VK or Instagram
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36 "
    "Telegram-Android/10.12.0 (Google Pixel 7; Android 13)",
    "Mozilla/5.0 (Linux; Android 12; M2101K6G Build/SKQ1.210908.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/123.0.6312.118 Mobile Safari/537.36 Viber/21.6.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 VKClient/8.71",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Instagram 330.0.3.14.96",
]


@pytest.mark.parametrize("agent", PEOPLE)
def test_people_are_people(agent: str) -> None:
    assert classify(agent, {"Accept-Language": "ru-RU,ru;q=0.9"}) is None
    assert not is_bot(agent)


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/124.0.6367.29 Safari/537.36",
            "headless",
        ),
        (
            "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
            "PhantomJS/2.1.1 Safari/538.1",
            "headless",
        ),
        ("TelegramBot (like TwitterBot)", "link preview: telegram"),
        ("WhatsApp/2.23.20.0 A", "link preview: whatsapp"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "link preview: slack"),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "link preview: facebook",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
            "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "link preview: facebook",
        ),
        ("Twitterbot/1.0", "link preview: twitter"),
        ("Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)", "link preview: vk"),
        ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "link preview: discord"),
        ("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", "link preview: skype"),
        (
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "link preview: linkedin",
        ),
        ("Mozilla/5.0", "mail proxy"),  # Apple Mail Privacy Protection
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "mail proxy",
        ),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "mail proxy"),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", "scanner"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Mimecast URL Protect", "scanner"),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", "scanner"),
        ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0; BingPreview/1.0b)", "scanner"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler: google"),
        ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "crawler: yandex"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "crawler: bing"),
        ("python-requests/2.31.0", "crawler: python-requests"),
        ("curl/8.5.0", "crawler: curl"),
        ("Go-http-client/1.1", "crawler: Go-http-client"),
        ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "crawler: ahrefs"),
        (None, "no user agent"),
        ("   ", "no user agent"),
    ],
)
def test_bots_say_why(agent: str | None, reason: str) -> None:
    found = classify(agent, {})
    if reason.startswith("crawler: "):
        assert found is not None
        assert found.startswith("crawler: ")
        name = found.removeprefix("crawler: ")
        assert name.lower() in (agent or "").lower()  # the name is what matched, from the user agent
        assert reason.removeprefix("crawler: ").lower() in name.lower()
    else:
        assert found == reason


def test_client_hints_unmask_a_headless_chrome_that_hides_its_user_agent() -> None:
    agent = PEOPLE[2]
    hints = '"Chromium";v="124", "HeadlessChrome";v="124", "Not-A.Brand";v="99"'
    assert classify(agent, {"Sec-CH-UA": hints}) == "headless"
    assert classify(agent, {"sec-ch-ua": '"Chromium";v="124", "Google Chrome";v="124"'}) is None


def test_a_proxy_that_forwards_the_original_user_agent_is_read_too() -> None:
    assert (
        classify(PEOPLE[0], {"X-Original-User-Agent": "TelegramBot (like TwitterBot)"})
        == "link preview: telegram"
    )
    assert classify("", {"X-Original-User-Agent": PEOPLE[0]}) is None


def test_a_huge_user_agent_is_cut_not_choked_on() -> None:
    assert classify("Mozilla/5.0 " + "x" * 100_000, {}) is None
