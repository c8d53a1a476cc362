import re

import pytest

from ragft import style
from ragft.data import data_dir
from ragft.style import (BANNED_PHRASES, RULES, answer_first, at_most_sentences, check_reply, content_correct,
                         greets_by_first_name, no_banned_phrases, numbers_house_style, signs_off, split_reply,
                         split_sentences)

GOOD = ("Hi Marta,\n"
        "Each Rootline R2 rod is 140 mm long.\n"
        "The probe costs EUR 149 and reports every 15 minutes over 868 MHz.\n"
        "Firmware 4.2.1 is already installed.\n"
        "Fernhollow Support")
ANSWERS = ["140 mm", "140 millimetres"]


def reply(body: str, greeting: str = "Hi Marta,", sign_off: str = "Fernhollow Support") -> str:
    """A reply with the given body, greeting and sign-off lines."""
    return "\n".join(part for part in (greeting, body, sign_off) if part)


# --- the sentence splitter and split_reply ------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The probe is 140 mm long. It costs EUR 149.", ["The probe is 140 mm long.", "It costs EUR 149."]),
    ("It runs at 2.4 GHz. It costs EUR 1,250.00. Done!", ["It runs at 2.4 GHz.", "It costs EUR 1,250.00.", "Done!"]),
    ("Update to 4.2.1 first. Then restart.", ["Update to 4.2.1 first.", "Then restart."]),
    ("Update to version 4.2.1. Then restart.", ["Update to version 4.2.1.", "Then restart."]),
    ("Use a probe, e.g. the Rootline R2. It is approx. 140 mm long.",
     ["Use a probe, e.g. the Rootline R2.", "It is approx. 140 mm long."]),
    ("That is, i.e. the gateway, order No. 4711. Done.", ["That is, i.e. the gateway, order No. 4711.", "Done."]),
    ("Is it on? Yes! It is", ["Is it on?", "Yes!", "It is"]),  # a trailing sentence without a full stop
    ("Restart it. No. It still fails.", ["Restart it.", "No.", "It still fails."]),  # "No." before a word ends
    ("Bring cables etc. to the site. Call at 9 a.m. on Monday.",
     ["Bring cables etc. to the site.", "Call at 9 a.m. on Monday."]),
    ("First line without a stop\nSecond line.", ["First line without a stop", "Second line."]),
    ("1. Unplug the gateway.\n2. Wait 10 seconds.", ["1. Unplug the gateway.", "2. Wait 10 seconds."]),
    ('He said "restart it." Then it worked.', ['He said "restart it."', "Then it worked."]),
    ("", []),
    ("   \n  ", []),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_split_reply_finds_greeting_body_and_sign_off():
    greeting, body, sign_off = split_reply(GOOD)
    assert greeting == "Hi Marta," and sign_off == "Fernhollow Support"
    assert body == ["Each Rootline R2 rod is 140 mm long.",
                    "The probe costs EUR 149 and reports every 15 minutes over 868 MHz.",
                    "Firmware 4.2.1 is already installed."]
    assert split_reply("\n\n  " + GOOD + "\n\n") == (greeting, body, sign_off)  # blank lines around do not count


def test_split_reply_when_parts_are_missing():
    assert split_reply("The rods are 140 mm long.") == (None, ["The rods are 140 mm long."], None)
    assert split_reply("") == (None, [], None)
    assert split_reply("Hi Marta, the rods are 140 mm long.")[0] is None  # a sentence, not a greeting line
    assert split_reply("Dear Marta,\nYes.\nBest regards,\nFernhollow Support") == (
        "Dear Marta,", ["Yes."], "Best regards,\nFernhollow Support")
    assert split_reply("Hi Marta,\nYes.\nFernhollow Support\nwww.fernhollow.example")[2] is None
    with pytest.raises(TypeError, match="string"):
        split_reply(None)


# --- rule 1: greeting -----------------------------------------------------------------------------------------

def test_greeting_passes():
    assert greets_by_first_name(GOOD, "Marta")
    assert greets_by_first_name(reply("Yes.", greeting="Hi  Marta,"), " Marta ")  # spacing is not style


@pytest.mark.parametrize("greeting", ["Dear Marta,", "Hi Marta Jansen,", "Hello Marta,", "Hi Marta", "Hi marta,",
                                      "Hi Marta!", "Hi Jan,", "Hey Marta,", ""])
def test_greeting_fails(greeting):
    assert not greets_by_first_name(reply("The rods are 140 mm long.", greeting=greeting), "Marta")


def test_greeting_must_be_the_first_line():
    assert not greets_by_first_name("The rods are 140 mm long.\nHi Marta,\nFernhollow Support", "Marta")
    assert not greets_by_first_name("Hi Marta, the rods are 140 mm long.\nFernhollow Support", "Marta")


@pytest.mark.parametrize("name", ["", "   ", "Marta,", "Marta\nJansen"])
def test_greeting_rejects_a_bad_first_name(name):
    with pytest.raises(ValueError, match="first_name"):
        greets_by_first_name(GOOD, name)


# --- rule 2: answer first -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "Each Rootline R2 rod is 140 mm long.",
    "EACH ROD IS 140   MM LONG. It is stainless steel.",  # case and spacing do not matter
    "The rods are 140 millimetres long.",  # an alias
    "140 mm. That is the length of each rod.",
])
def test_answer_first_passes(body):
    assert answer_first(reply(body), ANSWERS)


@pytest.mark.parametrize("text", [
    reply("Thanks for asking about the Rootline R2. Each rod is 140 mm long."),  # answer in the second sentence
    reply("Each rod is 1140 mm long."),  # not the answer, although the text contains it
    reply("The rods are stainless steel."),  # no answer at all
    "Hi Marta,\nFernhollow Support",  # no body
    reply("Great question! Each rod is 140 mm long.", greeting=""),  # no greeting: the first sentence counts
])
def test_answer_first_fails(text):
    assert not answer_first(text, ANSWERS)


def test_answer_first_takes_one_string_and_rejects_no_answer():
    assert answer_first(GOOD, "140 mm")
    for bad in ([], [""], ["  "]):
        with pytest.raises(ValueError, match="no answers"):
            answer_first(GOOD, bad)


# --- rule 3: short ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "One.",
    "One. Two. Three.",
    "It runs at 2.4 GHz, e.g. near the gateway. Firmware 4.2.1 costs EUR 1,250.00. That is approx. all.",
])
def test_short_passes(body):
    assert at_most_sentences(reply(body))


@pytest.mark.parametrize("body", [
    "One. Two. Three. Four.",
    "One. Two. Three. Four without a full stop",
    "One!\nTwo?\nThree.\nFour.",
    "Is it on? Yes. Restart it. Then wait 10 seconds. Done.",
])
def test_short_fails(body):
    assert not at_most_sentences(reply(body))


def test_short_takes_another_limit_and_rejects_a_bad_one():
    assert at_most_sentences(reply("One. Two."), n=2) and not at_most_sentences(reply("One. Two."), n=1)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="n must be"):
            at_most_sentences(GOOD, n=bad)


# --- rule 4: numbers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "The probe costs EUR 65.",
    "The kit costs EUR 1,250.00 and the probe EUR 7.90.",
    "The rods are 140 mm long and report every 15 minutes at 2.4 GHz.",
    "It works from -20 °C to 60 °C and draws 3.6 V.",
    "Prices are in EUR. EUR 65. EUR prices exclude VAT.",
    "The Irrigo V3 and CG4 run firmware 4.2.1 over 4G; ask about the 15-minute interval.",
    "Set `interval=1h` in the API call.",  # code is exempt
    "We ship across Europe and the European Union.",
    "Sales doubled in the 2010s.",  # a decade, not seconds
    "No numbers here.",
])
def test_numbers_pass(text):
    assert numbers_house_style(text), style.number_style_violations(text)


@pytest.mark.parametrize("text", [
    "The probe costs €65.",
    "The probe costs 65 €.",
    "The probe costs 65 euros.",
    "The probe costs 65 Euro.",
    "The probe costs 65 EUR.",
    "The probe costs 65EUR.",
    "The probe costs EUR65.",
    "The probe costs eur 65.",
    "The probe costs EUR  65.",
    "The kit costs EUR 1250.",
    "The kit costs EUR 1.250,00.",
    "The rods are 140mm long.",
    "Wait 15minutes.",
    "It runs at 2.4GHz.",
    "It works up to 60°C.",
    "Wait 30s, then retry in 1h.",
    "The rods are 140  mm long.",
])
def test_numbers_fail(text):
    assert not numbers_house_style(text)
    assert style.number_style_violations(text)


def test_number_style_follows_the_documents():
    """The rule matches the knowledge base: every price and unit in the documents is written the house way."""
    documents = sorted((data_dir() / "documents").glob("*.md"))
    assert len(documents) > 40
    assert {p.name: style.number_style_violations(p.read_text(encoding="utf-8")) for p in documents} == {
        p.name: [] for p in documents}


# --- rule 5: sign-off ---------------------------------------------------------------------------------------

def test_sign_off_passes():
    assert signs_off(GOOD)
    assert signs_off(GOOD + "\n\n")
    assert signs_off("Yes.\n\nFernhollow Support")


@pytest.mark.parametrize("text", [
    reply("Yes.", sign_off="Best regards, Fernhollow Support"),
    reply("Yes.", sign_off="Best regards,\nFernhollow Support"),
    reply("Yes.", sign_off="Fernhollow Support\nwww.fernhollow.example"),  # a trailing line
    reply("Yes.", sign_off="Fernhollow Support\nP.S. Call us any time."),
    reply("Yes.", sign_off="The Fernhollow Support Team"),
    reply("Yes.", sign_off="Fernhollow Support."),
    reply("Yes.", sign_off="Fernhollow support"),
    reply("Yes.", sign_off="Cheers"),
    reply("Yes. Fernhollow Support", sign_off=""),  # on the line of the last sentence
    reply("Yes.", sign_off=""),
])
def test_sign_off_fails(text):
    assert not signs_off(text)


# --- rule 6: banned phrases -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    GOOD,
    "Fortunately the probe is covered.",  # "unfortunately" is banned, "fortunately" is not
    "Please check the note on the label.",
    "We hope the probe arrives soon.",
])
def test_no_banned_phrases_passes(text):
    assert no_banned_phrases(text)


@pytest.mark.parametrize("text", [
    "I hope this helps!",
    "UNFORTUNATELY the probe is out of stock.",
    "Please note that returns close after 40 days.",
    "As an AI, I cannot see your account.",
    "Great question! The rods are 140 mm long.",
    "Feel free to call us.",
    "Thank you for reaching out about the probe.",
    "Don't hesitate to ask.",
    "Don\u2019t hesitate to ask.",  # a typographic apostrophe
    "Do not hesitate to ask.",
    "i hope\nthis helps",  # across a line break
])
def test_no_banned_phrases_fails(text):
    assert not no_banned_phrases(text)


def test_each_banned_phrase_is_caught_in_a_reply():
    for phrase in BANNED_PHRASES:
        text = reply(f"The rods are 140 mm long. {phrase.upper()} for the rest.")
        assert style.banned_phrases_in(text) == [phrase]


# --- every rule, content, and the guide ---------------------------------------------------------------------

def test_check_reply_on_a_compliant_reply():
    result = check_reply(GOOD, "Marta", ANSWERS)
    assert list(result) == [*RULES, "all_rules"] and all(result.values())
    assert style.style_violations(GOOD, "Marta", ANSWERS) == []


def test_check_reply_on_a_reply_that_breaks_every_rule():
    bad = ("Dear Marta Jansen,\n"
           "Great question, and thank you for reaching out! Unfortunately the probe costs €149.\n"
           "Each rod is 140mm long. Please note the warranty. I hope this helps.\n"
           "Best regards,\nFernhollow Support")
    result = check_reply(bad, "Marta", ANSWERS)
    assert list(result) == [*RULES, "all_rules"] and not any(result.values())
    assert content_correct(bad, ANSWERS)  # off-style but right: content is scored apart from style
    assert [v.split(":")[0] for v in style.style_violations(bad, "Marta", ANSWERS)] == list(RULES)


def test_content_correct():
    assert content_correct(GOOD, ANSWERS)
    assert content_correct("The rods are 140mm.", ANSWERS)  # spacing is rule 4's business, not content's
    assert content_correct("The rods are 140 Millimetres long.", ANSWERS)
    assert not content_correct("The rods are 1140 mm long.", ANSWERS)
    assert not content_correct("The kit costs EUR 899.", ["EUR 89"])
    assert not content_correct("The kit costs EUR 89.50.", ["EUR 89"])
    assert content_correct("The kit costs EUR 89.", ["EUR 89"])
    with pytest.raises(ValueError, match="no answers"):
        content_correct(GOOD, [])


def test_style_guide_lists_the_six_rules():
    assert style.STYLE_GUIDE_PATH.is_file()
    guide = style.load_style_guide()
    assert guide.startswith("# Fernhollow support reply style")
    assert 200 <= len(guide.split()) <= 300
    titles = re.findall(r"^\d\. \*\*(.+?)\.\*\*", guide, flags=re.M)
    assert titles == ["Greeting", "Answer first", "Short", "Numbers the Fernhollow way", "Sign-off",
                      "No filler phrases"]
    assert len(RULES) == 6
    assert all(f'"{p}"' in guide for p in BANNED_PHRASES)
    assert "EUR 1,250.00" in guide and "140 mm" in guide and "Fernhollow Support" in guide


def test_style_guide_examples_obey_their_own_rules():
    guide = style.load_style_guide()
    good = re.findall(r"Good: `(.+?)`", guide)
    bad = re.findall(r"Bad: `(.+?)`", guide)
    assert len(good) == len(bad) == 6
    assert greets_by_first_name(reply("Yes.", greeting=good[0]), "Marta")
    assert not greets_by_first_name(reply("Yes.", greeting=bad[0]), "Marta")
    assert answer_first(reply(good[1]), ANSWERS) and not answer_first(reply(bad[1]), ANSWERS)
    assert at_most_sentences(reply(good[2])) and not at_most_sentences(reply(bad[2]))
    assert numbers_house_style(good[3]) and not numbers_house_style(bad[3])
    assert signs_off(reply("Yes.", sign_off=good[4])) and not signs_off(reply("Yes.", sign_off=bad[4]))
    assert no_banned_phrases(good[5]) and not no_banned_phrases(bad[5])


# --- the house-style experiment's emails, target replies and prompts ----------------------------------------

from ragft.data import load_facts, load_questions  # noqa: E402
from ragft.style import (EMAIL_TEMPLATES, SIGN_OFF, compliance, customer_email, reply_prompt,  # noqa: E402
                         style_items, styled_reply)


def test_every_styled_target_reply_keeps_every_rule():
    """The replies the style adapter learns from must themselves follow the guide, or it learns the wrong style."""
    facts = {f.id: f for f in load_facts()}
    items = style_items(load_questions("train"), seed=1)
    reworded = set()  # facts whose statement words the answer otherwise ("25 active Relay API tokens")
    for item in items:
        target = styled_reply(item.first_name, facts[item.fact_id].statement)
        broken = style.style_violations(target, item.first_name, item.answers)
        if [b.split(":")[0] for b in broken] == ["answer_first"] and not content_correct(target, item.answers):
            reworded.add(item.fact_id)
            continue
        assert not broken, (item.id, broken)
    assert reworded == {"F093"}  # the one such fact; content graders count it wrong for every system alike


def test_style_items_are_fixed_by_the_seed_and_sign_with_the_first_name():
    questions = load_questions("test_plain")[:30]
    first, again = style_items(questions, seed=3), style_items(questions, seed=3)
    assert first == again
    assert first != style_items(questions, seed=4)
    for item, q in zip(first, questions):
        assert q.question in item.email and item.first_name in item.email
        assert item.answers[0] == q.answer and item.doc_id == q.doc_ids[0]
    assert len({i.email.splitlines()[0] for i in first}) > 1  # several templates in use


def test_customer_email_cycles_the_templates():
    assert customer_email("Q?", "Marta", "Jansen", 0) == EMAIL_TEMPLATES[0].format(question="Q?", first="Marta",
                                                                                  last="Jansen")
    assert customer_email(" Q? ", "Marta", "Jansen", len(EMAIL_TEMPLATES)) == customer_email("Q?", "Marta", "Jansen", 0)


def test_reply_prompt_puts_guide_examples_and_context_before_the_email():
    prompt = reply_prompt("Hello, how long?", ["Rods are 140 mm."], guide="GUIDE",
                          examples=[("Old email", "Hi A,\nOld answer.\n" + SIGN_OFF)])
    assert prompt.index("GUIDE") < prompt.index("Old email") < prompt.index("Rods are 140 mm.") < prompt.index(
        "Hello, how long?")
    assert prompt.rstrip().endswith(style.REPLY_INSTRUCTION)
    assert "GUIDE" not in reply_prompt("Hello", ["ctx"]) and "ctx" not in reply_prompt("Hello")


def test_compliance_scores_each_reply_on_each_rule_and_on_content():
    item = style_items(load_questions("test_plain")[:1], seed=0)[0]
    good = styled_reply(item.first_name, f"The answer is {item.answers[0]}.")
    bad = f"Dear {item.first_name},\nUnfortunately I cannot say.\nBest regards"
    scores = compliance([good, bad], [item, item])
    assert scores["all_rules"] == [1, 0] and scores["content"] == [1, 0]
    assert scores["greeting"] == [1, 0] and scores["no_banned_phrases"] == [1, 0] and scores["sign_off"] == [1, 0]
    with pytest.raises(ValueError, match="1 replies for 2 items"):
        compliance([good], [item, item])
