"""Voice of the customer themes: whole-word matching, the reply's own words, weeks, settings."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from abusedesk.insights.voice import (
    DEFAULT_THEMES,
    OTHER,
    Theme,
    ThemeCount,
    ThemeInvalid,
    appeal_text,
    classify,
    excerpt,
    reply_text,
    themes_from_settings,
    weekly_series,
)
from abusedesk.insights.weeks import week_start, weeks_between

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def test_each_default_theme_is_found_in_a_typical_sentence() -> None:
    """One plain sentence per default theme lands in that theme alone."""
    sentences = {
        "compromised": "Someone else got our password, the account was compromised.",
        "legitimate": "These people opted in on our website.",
        "purchased_list": "Marketing bought a list last month.",
        "fixed": "We have patched the form.",
        "urgent": "This is an emergency for us.",
        "third_party": "A contractor runs our newsletter.",
        "did_not_know": "We were not aware of this.",
    }
    assert [theme.key for theme in DEFAULT_THEMES] == list(sentences)
    for key, sentence in sentences.items():
        assert classify(sentence) == (key,), sentence


def test_matching_ignores_case_and_needs_whole_words() -> None:
    """'HACKED' matches hacked; 'unhacked', 'hackedx' and 'fixedly' do not."""
    assert classify("HACKED") == ("compromised",)
    assert classify("it was unhacked or hackedx") == (OTHER,)
    assert classify("fixedly") == (OTHER,)


def test_a_trailing_star_matches_any_ending_but_not_the_bare_stem_when_shorter() -> None:
    """'hacker*' finds hacker and hackers, not hack."""
    assert classify("hackers got in") == ("compromised",)
    assert classify("a hack") == (OTHER,)


def test_spaces_and_hyphens_in_a_keyword_match_each_other() -> None:
    """'third party' finds third-party and 'third   party'; 'opt-in' finds 'opt in'."""
    assert classify("a third-party tool") == ("third_party",)
    assert classify("a third \n  party tool") == ("third_party",)
    assert classify("every user did opt in") == ("legitimate",)


def test_curly_apostrophes_count_as_straight_ones() -> None:
    """Phones write a right single quotation mark; the keyword says didn't."""
    assert classify("We didn\u2019t know.") == ("did_not_know",)


def test_a_text_in_several_themes_lists_them_in_the_themes_order() -> None:
    """Order follows the theme list, not the text."""
    text = "We didn't know our vendor bought a list; we removed it, urgent!"
    assert classify(text) == ("purchased_list", "fixed", "urgent", "third_party", "did_not_know")


def test_empty_or_unmatched_text_is_other() -> None:
    """Nothing to say still counts, as other."""
    assert classify("") == (OTHER,)
    assert classify("Thanks.") == (OTHER,)


def test_words_not_meaning_a_negation_still_matches() -> None:
    """The documented limit: 'not compromised' counts as compromised."""
    assert classify("We were not compromised") == ("compromised",)


def test_hostile_text_is_only_text() -> None:
    """Regex metacharacters, huge input and control characters classify without error."""
    assert classify("(.*)+[a-z]{99999}\\" * 1000) == (OTHER,)
    assert classify("\x00hacked\x00") == ("compromised",)
    # The keyword past the read limit is not seen.
    assert classify("a " * 20_000 + "hacked") == (OTHER,)


def test_custom_keywords_are_escaped_not_patterns() -> None:
    """A keyword holding regex syntax matches itself literally."""
    theme = Theme("price", "Price", ("c++", "(cost)"))
    assert classify("we use c++ daily", (theme,)) == ("price",)
    assert classify("we use c daily", (theme,)) == (OTHER,)


def test_reply_text_drops_quoted_mail_and_reply_markers() -> None:
    """Lines starting '>' and everything from 'On ... wrote:' or an Original Message rule go."""
    body = (
        "We fixed it.\n"
        "> earlier: compromised\n"
        "Thanks\n"
        "On Mon, 2 Nov 2026 at 10:00, Abuse Desk <abuse@example.net> wrote:\n"
        "hacked account in the quote\n"
    )
    assert reply_text("RE: Fwd: re: Notice", body) == "Notice\nWe fixed it.\nThanks"
    outlook = "Sorry!\n-----Original Message-----\nFrom: abuse\nYour account was hacked"
    assert reply_text("", outlook) == "Sorry!"


def test_appeal_text_joins_the_three_answers() -> None:
    """Empty answers leave no blank paragraphs."""
    assert appeal_text("cause", "", "prevention") == "cause\n\nprevention"


def test_weeks_start_on_monday_midnight_utc() -> None:
    """Sunday 23:59 belongs to the week before; a time in another zone is turned into UTC."""
    sunday = datetime(2026, 11, 8, 23, 59, tzinfo=UTC)
    assert week_start(sunday) == MONDAY
    assert week_start(sunday + timedelta(minutes=1)) == MONDAY + timedelta(days=7)
    # Monday 00:30 in Berlin is still Sunday 23:30 in UTC.
    early_in_berlin = datetime(2026, 11, 9, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert week_start(early_in_berlin) == MONDAY
    assert weeks_between(MONDAY + timedelta(days=3), MONDAY + timedelta(days=15)) == [
        MONDAY,
        MONDAY + timedelta(days=7),
        MONDAY + timedelta(days=14),
    ]


def test_weekly_series_fill_weeks_without_texts_with_zero() -> None:
    """A theme has a point every week; themes never seen have no line."""
    counts = [
        ThemeCount(MONDAY, "fixed", "appeal", 2),
        ThemeCount(MONDAY, "fixed", "reply", 1),
        ThemeCount(MONDAY + timedelta(days=14), OTHER, "reply", 4),
    ]
    weeks = [MONDAY + timedelta(days=7 * n) for n in range(3)]
    series = weekly_series(counts, DEFAULT_THEMES, weeks)
    assert [(s.name, [v for _, v in s.points]) for s in series] == [
        ("Fixed / will fix", [3.0, 0.0, 0.0]),
        ("Other", [0.0, 0.0, 4.0]),
    ]
    replies = weekly_series(counts, DEFAULT_THEMES, weeks, source="reply")
    assert [v for _, v in replies[0].points] == [1.0, 0.0, 0.0]


def test_excerpt_cuts_around_the_keyword_between_words() -> None:
    """A long text shows the part holding the keyword, cut at spaces, ellipses at both cuts."""
    theme = DEFAULT_THEMES[0]
    text = "word " * 50 + "then we were hacked by someone " + "tail " * 50
    shown = excerpt(text, theme, width=60)
    # The keyword at 263 less a third of 60 is 243, inside a word: the cut moves to 245;
    # 245 + 60 = 305 lies in "tail", so the end moves back to the space at 300.
    assert shown == "…word then we were hacked by someone tail tail tail tail…"
    assert excerpt("short text", theme) == "short text"


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([{"key": "Bad Key", "label": "x", "keywords": ["a"]}], "theme key 'Bad Key'"),
        ([{"key": "other", "label": "x", "keywords": ["a"]}], "not 'other'"),
        ([{"key": "a", "label": " ", "keywords": ["a"]}], "theme 'a' needs a label"),
        ([{"key": "a", "label": "A", "keywords": []}], "theme 'a' needs keywords"),
        ([{"key": "a", "label": "A", "keywords": ["*"]}], "a keyword needs a letter"),
        ([{"key": "a", "label": "A", "keywords": "abc"}], "keywords must be a list"),
        (
            [{"key": "a", "label": "A", "keywords": ["x"]}] * 2,
            "theme key(s) given twice: a",
        ),
    ],
)
def test_themes_from_settings_refuse_what_is_wrong_with_a_sentence(
    items: list[dict[str, object]], problem: str
) -> None:
    """Each mistake names the theme and what is wrong."""
    with pytest.raises(ThemeInvalid) as refused:
        themes_from_settings(items)
    assert problem in str(refused.value)


def test_no_themes_in_settings_means_the_defaults() -> None:
    """An empty list keeps the shipped themes."""
    assert themes_from_settings([]) == DEFAULT_THEMES
    custom = themes_from_settings([{"key": "price", "label": "Price", "keywords": ["price*"]}])
    assert [theme.key for theme in custom] == ["price"]
