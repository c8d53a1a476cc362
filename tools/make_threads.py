"""Generate the thread-summarisation task: ragft/data/threads/{train,validation,test}.jsonl.

The task: read a customer's support THREAD with Fernhollow Instruments (3 to 6 messages that
alternate customer / support, starting with the customer, 120-300 words in all) and write a
three-line HANDOVER NOTE with fixed fields, so that a colleague can pick the case up:

    Customer: <first name> at <company>, <product>
    Issue: <one sentence: what is wrong, with the key identifiers>
    Next step: <one sentence: who does what next, as agreed at the end of the thread>

The Issue names the error code, order number, quantity and firmware version when the thread has
them. Every number, order number, error code and product name in a note also occurs in the thread,
with one exception: when the customer reports an ERROR CODE (always a real code from an error-code
table of the knowledge base, ragft/data/documents/), the note also states what the code means,
written as "error G-340 (SIM card not detected in the LTE-M slot)". The thread never states the
meaning, so that part of the note needs the documents; such rows have needs_documents = true and
name the document in doc_ids. Shipping, billing, account, feature-request and most hardware
threads need no outside knowledge.

Threads are built from hand-written templates with slots (names, companies, products, codes,
numbers, dates, corrections such as "sorry, the order number is actually ...", optional small
talk, greetings and sign-offs). Templates are split between train, validation and test, so a model
is tested on wordings it never saw in training. Three error codes (TEST_ONLY_CODES) occur only in
test threads, so the test set also holds code meanings that no training note contains.

Before writing, the script checks every row (note format, faithfulness of the note to the thread,
code meanings against the Markdown tables, ids, template split, thread shape) and raises on any
failure. Deterministic (random.Random(SEED), standard library only): running it twice writes
byte-identical files. Usage, from the repository root:  python tools/make_threads.py
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

SEED = 20240611
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "ragft" / "data" / "threads"
DOCS = ROOT / "ragft" / "data" / "documents"

SPLITS = ("train", "validation", "test")
N_ROWS = {"train": 120, "validation": 30, "test": 50}
N_CODE = {"train": 54, "validation": 14, "test": 23}      # threads with an error code (45-47 %)
WORDS = (120, 300)                                         # words per thread (all message texts)

R2, DM, CG, IV = "Rootline R2", "Dewpoint Mini", "Canopy Gateway CG-4", "Irrigo V3"
FB, RA = "Fieldbook", "Relay API"
PRODUCTS = (R2, DM, CG, IV, FB, RA)
HW = [R2, DM, CG, IV]

# ---------------------------------------------------------------------------------------------
# Error codes: code -> (product, document id, HTTP status or None, meaning as written in notes).
# The meaning is a short form copied from the code's table row (checked against the file).
CODES = {
    "E-101": (R2, "trouble-sensor-error-codes", None, "short circuit between the rods"),
    "E-104": (R2, "trouble-sensor-error-codes", None, "conductivity above the measuring range"),
    "E-112": (R2, "trouble-sensor-error-codes", None, "air gap around the rods"),
    "E-130": (R2, "trouble-sensor-error-codes", None, "internal temperature sensor failure"),
    "E-203": (DM, "trouble-sensor-error-codes", None, "light source of the CO2 element has failed"),
    "E-217": (DM, "trouble-sensor-error-codes", None, "condensation on the humidity element"),
    "E-225": (DM, "trouble-sensor-error-codes", None, "USB supply below 4.5 V"),
    "E-241": (DM, "trouble-sensor-error-codes", None, "CO2 reading outside the calibrated range"),
    "G-310": (CG, "trouble-gateway-error-codes", None, "DNS lookup of the Fieldbook servers failed"),
    "G-322": (CG, "trouble-gateway-error-codes", None, "TLS certificate of the server rejected"),
    "G-340": (CG, "trouble-gateway-error-codes", None, "SIM card not detected in the LTE-M slot"),
    "G-355": (CG, "trouble-gateway-error-codes", None, "FernLink radio module not responding"),
    "G-361": (CG, "trouble-gateway-error-codes", None, "offline buffer more than 90 % full"),
    "valve_busy": (RA, "api-relay-rate-limits-errors", "409",
                   "the Irrigo V3 zone is already running another manual run"),
    "rate_limited": (RA, "api-relay-rate-limits-errors", "429", "too many requests for this token"),
    "device_not_found": (RA, "api-relay-rate-limits-errors", "404",
                         "no device with this ID in your organisation"),
}
TEST_ONLY_CODES = {"E-104", "E-241", "G-310"}   # never in a train or validation thread
CODE_RE = re.compile(r"\b[EG]-\d{3}\b|\b(?:" + "|".join(c for c in CODES if "_" in c) + r")\b")

# ---------------------------------------------------------------------------------------------
# Per-product words. p: how a thread refers to the device after naming it ("the {p}");
# unit/units: the noun after the product name ("6 Rootline R2 probes").
P_ALIAS = {R2: ["probe", "R2", "soil probe"], DM: ["sensor", "Dewpoint", "climate sensor"],
           CG: ["gateway", "CG-4"], IV: ["controller", "Irrigo"], FB: ["Fieldbook"], RA: ["API"]}
UNIT = {R2: ("probe", "probes"), DM: ("sensor", "sensors"), CG: ("unit", "units"),
        IV: ("controller", "controllers"), FB: ("account", "accounts"), RA: ("key", "keys")}
PAGE = {R2: "device page", DM: "device page", CG: "setup page"}
LIST_PRICE = {R2: "149", DM: "89", CG: "379", IV: "214"}          # EUR, pricing-hardware.md
FIRMWARE = {R2: ["3.8.2", "3.8.1", "3.7.9", "3.7.4"], DM: ["2.6.0", "2.5.3", "2.5.1"],
            CG: ["4.2.1", "4.2.0", "4.1.3"]}
PLANS = [("Grower", "39"), ("Estate", "135")]                        # EUR per month

NAMES = ["Maja", "Priya", "Aoife", "Lena", "Sanne", "Ruth", "Ines", "Yuki", "Bea", "Grace",
         "Tove", "Hannah", "Marta", "Keziah", "Elif", "Joanna", "Rosa", "Tom", "Jonas", "Kwame",
         "Marco", "Dmitri", "Felix", "Hamid", "Callum", "Oskar", "Pieter", "Rhys", "Luis", "Bram",
         "Anil", "Sean", "Mateusz", "Gideon", "Olu", "Wim"]
COLLEAGUES_F = ["Agnes", "Freya", "Hilde", "Mira", "Paula", "Signe", "Dorota", "Carys", "Ayla", "Nell"]
COLLEAGUES_M = ["Ewan", "Lars", "Rafael", "Tobias", "Kofi", "Arne", "Declan", "Viktor", "Emil", "Idris"]
AGENTS = ["Femke", "Arjun", "Lotte", "Daniel", "Saskia", "Tomasz", "Nadia", "Joost"]
COMPANIES = [
    "Ashby Glasshouses", "Hollowmere Farm", "Brackenridge Greenhouses", "Saltmarsh Orchard",
    "Wrenfield Nursery", "Kettle Lane Growers", "Tidewater Vertical Farms", "Oakshott Orchard",
    "Greywater Glasshouses", "Millbrook Market Garden", "Sorrel Hill Farm", "Lantern Bay Greens",
    "Upper Fenwick Orchard", "Copperleaf Hydroponics", "Marram Point Nursery", "Thistledown Farm",
    "Elsin Valley Growers", "Quarry Field Herbs", "Blackwater Tunnels", "Pennock's Orchard",
    "Harrow End Salads", "Nettlebed Microgreens", "Fallowfield Tomatoes", "Rookery Lane Berries",
    "Westmoor Plant Nursery", "Cinder Hill Growers", "Bramblecote Farm", "Heronsgate Glasshouses",
]
ZONES = ["greenhouse 2", "house 4", "tunnel B", "the north block", "bay 7", "glasshouse 3",
         "the propagation house", "the east tunnel", "block C", "polytunnel 5", "house 1",
         "the back tunnel", "the seedling room", "glasshouse 6"]
CROPS = ["tomatoes", "lettuces", "strawberries", "cucumbers", "peppers", "basil",
         "microgreens", "chillies", "courgettes", "aubergines", "raspberries", "herbs"]
TIMES = ["6am", "05:30", "02:40", "midnight", "7:15", "4am", "03:10", "10pm", "5am", "01:20"]
TIMES2 = ["8:15", "9:30", "10:00", "11:45", "13:20", "14:10"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
ADDRESSES = ["Unit 4, Gullet Lane", "12 Reedbank Road", "Plot 9, Saltings Industrial Estate",
             "3 Tanner's Row", "Fold Farm, Brine Hill", "7 Marsh Road", "21 Orchard Way",
             "Barn 2, Cold Harbour Lane"]

# Ideas for feature requests: (idea sentence, use case, noun phrase for the note).
IDEAS_TRAIN = {
    FB: [("it would be great if {P} sent a weekly summary email with the highest and lowest readings per house.",
          "I'd forward it to the owners every Monday instead of taking screenshots.",
          "a weekly summary email from Fieldbook with the highest and lowest readings per house"),
         ("could {P} show two seasons side by side on one chart?",
          "We compare this year's crop with last year's when we plan the heating.",
          "a Fieldbook chart that shows two seasons side by side")],
    RA: [("could the {P} include each device's battery level in the readings response?",
          "Our own dashboard could then warn us before a probe goes flat.",
          "the battery level of each device in the Relay API readings response"),
         ("an official Python client for the {P} would save us a lot of work.",
          "We maintain our own wrapper, and it breaks whenever we forget an edge case.",
          "an official Python client for the Relay API")],
    R2: [("a shorter version of the {P} for pots and troughs would be brilliant.",
          "Half our crop is in 5-litre pots, where the standard rods are too long.",
          "a shorter Rootline R2 for pots and troughs")],
    DM: [("could the {P} get a small display showing the current reading?",
          "Staff walking through the house could check the humidity without a phone.",
          "a small display on the Dewpoint Mini showing the current reading")],
    CG: [("a solar panel option for the {P} would help us a lot.",
          "Our far orchard has no mains power, so we can't put a gateway there today.",
          "a solar panel option for the Canopy Gateway CG-4")],
    IV: [("could the {P} send a text message when a watering cycle finishes?",
          "We'd know the tunnels are done without walking down to check.",
          "a text message from the Irrigo V3 when a watering cycle finishes")],
}
IDEAS_TEST = {
    R2: [("could the {P} have depth markings on the rods, so every probe goes in at the same depth?",
          "Each of our staff pushes them in to a different depth, so the readings don't compare well.",
          "depth markings on the rods of the Rootline R2")],
    DM: [("could the {P} log to an SD card as a backup when the gateway is down?",
          "Our gateway is on a farm line that drops out in storms, and we lose the climate history for those hours.",
          "an SD-card backup log on the Dewpoint Mini")],
    CG: [("a battery backup inside the {P} that lasts through short power cuts would be brilliant.",
          "Our power goes off for a few minutes in most winter storms, and the gateway has to reboot each time.",
          "a battery backup inside the Canopy Gateway CG-4")],
    IV: [("could the {P} read two flow meters instead of one?",
          "We have two water sources, the mains and the rain tank, and want to see which one each zone used.",
          "a second flow-meter input on the Irrigo V3")],
    FB: [("could {P} have an offline mode on the phone, so we can note observations in the back field?",
          "Signal is poor behind the orchard, so we write things on paper and type them in later.",
          "an offline mode for Fieldbook on the phone")],
}

# ---------------------------------------------------------------------------------------------
# Message decoration (shared by all templates; never carries a fact the note needs).
GREET_C = ["Hi,", "Hello,", "Hi there,", "Good morning,", "Dear Fernhollow support,", "Hello Fernhollow team,",
           "Hi team,", "Morning,", "Good afternoon,", "Dear support team,"]
INTRO = ["This is {name} from {company}.", "I manage the growing side at {company}.",
         "{name} here, from {company}.", "I look after the glasshouses at {company}."]
SIGN_C_FULL = ["Thanks, {name} ({company})", "{name}, {company}", "Kind regards,\n{name}\n{company}",
               "Best wishes, {name} at {company}", "Cheers, {name} - {company}", "Many thanks,\n{name}, {company}"]
SIGN_C = ["Thanks, {name}", "{name}", "Cheers, {name}", "Best, {name}", "Thanks again, {name}", "Regards, {name}"]
SMALL_C = ["Hope you're well.", "Hope your week is going better than ours.", "It's been a long week of picking here.",
           "Apologies in advance for the long message.", "We've been happy customers for a few years now.",
           "Lovely sunny day here, so of course something breaks.", "Hope all is well in Venlo."]
LATER_C = ["Thanks for the quick reply.", "Sorry for the slow answer, we've been planting all day.",
           "Thanks for getting back to me so fast.", "Thanks for looking into it."]
FILLER_C = ["I've attached a screenshot in case it helps.", "It's the middle of our busy season, so the timing isn't great.",
            "I'm writing from my phone in the greenhouse, so apologies for any typos.",
            "Happy to send more details if you need them.", "Let me know if you need anything else from me.",
            "I've copied in my colleague, who was there when it happened."]
LATER_FILLER_C = ["Let me know if you need anything else.", "Happy to send photos if that helps.",
                  "I'll be on site all day if you need me.", "Thanks for your patience with this."]
FILLER_S = ["I've added a note to your account so my colleagues can see the history.",
            "If anything changes in the meantime, just reply to this email.",
            "I'm at my desk until 18:00 today if you have any questions.",
            "Please quote ticket number {ticket} if you write to us again."]
# An unrelated question a customer sometimes adds once the case is settled; the answer commits
# nobody to anything, so the Next step of the note still comes from the main problem.
SIDE = [("Thanks. Unrelated, but is the support desk open on Saturdays?",
         "Saturday support, from 09:00 to 13:00 CET, is for Estate and Enterprise customers; otherwise we're here Monday to Friday."),
        ("Great. One more thing while I have you: is the Growers Summit on again this year?",
         "It is! Early-bird tickets are EUR 220 if you book by 30 June."),
        ("Thanks. Also, could future invoices go to {billing} instead of my own address?",
         "Of course, I've changed the billing email on your account to {billing}."),
        ("Perfect. By the way, do you offer installation training for our own staff?",
         "Yes, the Certified Technician course runs over 2 days at the Fernhollow Academy in Wageningen; the dates are on our website."),
        ("Thanks. Quick unrelated question: can our sister farm borrow a demo kit?",
         "Yes, a demo kit can be borrowed for 4 weeks against a refundable deposit of EUR 100; the form is on our website.")]
P_SIDE = 0.3
GREET_S = ["Hi {name},", "Hello {name},", "Dear {name},", "Hi {name},"]
OPEN_S = ["Thanks for getting in touch.", "Thanks for the clear description.", "Thanks for reaching out to us.",
          "I'm {agent}, and I'll be looking after your ticket."]
SIGN_S = ["{agent}, Fernhollow support", "Best, {agent}", "Kind regards,\n{agent}\nFernhollow Instruments support",
          "{agent} (Fernhollow support)", "Best regards, {agent}"]

# ---------------------------------------------------------------------------------------------
TEMPLATES: list[dict] = []


def C(*alts):
    return ("customer", alts)


def S(*alts):
    return ("support", alts)


def IF(flag, then, other=()):
    return ("if", flag, list(then), list(other))


def END(msgs, nxt, w=1):
    return dict(msgs=list(msgs), next=list(nxt), w=w)


def T(tid, group, split, prods, turns, issue, ends, codes=None, flags=None, corrects=None, ideas=None):
    """Register a template.

    turns: C/S messages (alternatives) and IF(flag, then, else) blocks; ends: END alternatives,
    each with its own Next-step wording; codes: product -> allowed codes (None: no error code);
    flags: name -> probability; corrects: the slot a correction replaces ("order", "k", "code", "fw"):
    the thread first gives {X_said}, then corrects it to {X}; the note must not contain {X_wrong}.
    """
    TEMPLATES.append(dict(id=tid, group=group, split=split, prods=list(prods), turns=list(turns),
                          issue=list(issue), ends=list(ends), codes=codes, flags=flags or {},
                          corrects=corrects, ideas=ideas))


def pool(*names, exclude=()):
    """product -> codes of that product from CODES, optionally restricted to names or excluding some."""
    out = defaultdict(list)
    for code, (prod, *_rest) in CODES.items():
        if (not names or code in names) and code not in exclude:
            out[prod].append(code)
    return dict(out)


ALL = pool()

# ================================ TRAIN: threads with an error code ==========================
T("sensor-code-help-steps", "device_error", "train", [R2, DM],
  [C("Fieldbook has shown error {code} on the {P} in {zone} since {day} morning. The other devices in that house report normally, and nothing has changed there recently. What should we do?",
     "One of our {P} {units}, the one in {zone}, has reported error {code} since {day}. Everything else on the site looks normal. Could you advise?",
     "Since {day} the {P} in {zone} keeps showing error {code} in Fieldbook. We haven't moved it or changed anything nearby. Can you help?"),
   S("Thanks for flagging this. Could you tell me which firmware the {p} is running? It's on the device page in Fieldbook, just under the serial number.",
     "Sorry to hear that. Before anything else, which firmware version does the device page show for that {p}?"),
   C("It says firmware {fw}.", "The device page says {fw}. It was installed last spring, if that helps.",
     "Firmware {fw}, the same as our other {units} as far as I can see.")],
  ["The {P} in {zone} (firmware {fw}) has shown error {code} ({meaning}) since {day}."],
  [END([S("Thanks. The steps for {code} are in the sensor error code reference in our help centre; could you work through them and tell me whether the code clears?",
          "Thanks, that's useful. Please follow the steps listed for {code} in the sensor error code reference in our help centre, and let me know how it goes."),
        C("I went through the steps this morning, but {code} came back within the hour. Can you replace the {p}?",
          "We tried that yesterday afternoon, and the error was back overnight, so no luck I'm afraid."),
        S("Thanks for trying. The {P} is still under warranty, so I'll send a replacement today and email you a prepaid label for the faulty one.",
          "Sorry it didn't help. I've opened a warranty case: a replacement {P} ships today, and you'll get a prepaid label by email for the old one.")],
       ["Support will send a replacement {P} under warranty today, and {name} will return the faulty one with the prepaid label."], w=2),
   END([S("Thanks. The steps for {code} are in the sensor error code reference in our help centre; could you work through them and tell me whether the code clears?"),
        C("Will do. I'm on site tomorrow, so I'll try it first thing and let you know.",
          "OK, I'll go through them with {colleague} and report back.")],
       ["{name} will work through the help-centre steps for {code} and tell support whether the code clears."])],
  codes=pool("E-101", "E-112", "E-130", "E-203", "E-225"))

T("sensor-code-batch", "device_error", "train", [R2, DM],
  [C("We installed the {n} {P} {units} from order {order} on {date}, and {k_said} of them are already showing error {code} in Fieldbook. The rest report fine. Is this a bad batch?",
     "Bit of a problem with order {order}: we put in all {n} {P} {units} on {date}, and {k_said} of them now show error {code}. The others are working. Have you seen this before?"),
   S("Thanks for letting us know. Could you send me the serial numbers of the affected {units}? Then I can check which production batch they came from.",
     "Sorry about that. Could you reply with the serial numbers of the {units} that show the error, so I can look up their production batch?"),
   IF("corr",
      [C("The serial numbers are in the attached list. Sorry, I miscounted earlier: it's {k} {units} with {code}, not {k_wrong}.",
         "Here they are. One correction - after walking the rows again it's {k} {units} showing {code}, not {k_wrong}.")],
      [C("The serial numbers are in the attached list. All of them went in on the same day, in the same block.",
         "Here they are. They're all in the same bed, if that tells you anything.")])],
  ["{k} of the {n} {P} {units} from order {order}, installed on {date}, show error {code} ({meaning})."],
  [END([S("Thanks, got them. They all come from the same batch, so I've arranged replacements; they ship from Venlo tomorrow with a return label for the faulty ones.")],
       ["Support will ship {k} replacement {units} tomorrow with a return label, and {name} will send the faulty ones back."]),
   END([S("Thanks. I've passed the serial numbers to our hardware team, who will check the batch and get back to you by {day2}."),
        C("Great, thanks. We'll leave them in place until then.", "Thanks, we'll wait to hear from them.")],
       ["Support's hardware team will check the batch of the {k} affected {units} and reply to {name} by {day2}."])],
  codes=pool("E-101", "E-112", "E-130", "E-203", "E-225"), flags={"corr": 0.6}, corrects="k")

T("gateway-code-after-update", "device_error", "train", [CG],
  [C("Since last night's automatic update our {P} has had a {led} LED, and the setup page shows error {code}. The update page says it's now on firmware {fw}. No readings have come in from {zone} since about {time}.",
     "Our {P} updated itself overnight to firmware {fw}, and this morning the LED is {led} with error {code} on the setup page. Nothing from the sensors in {zone} since around {time}."),
   S("Sorry about that. Could you hold the reset button for 5 seconds to reboot the gateway? That keeps all the settings. Then let me know whether {code} is still shown.",
     "Sorry for the trouble. First, please reboot the gateway by holding the reset button for 5 seconds - your settings are kept. Does {code} come back afterwards?"),
   C("Rebooted it twice now, and within a few minutes the LED is back to {led} with {code}.",
     "I did that at {time2}, and after a couple of minutes it was {led} again with the same {code}.")],
  ["After the automatic update to firmware {fw}, the {P} shows a {led} LED and error {code} ({meaning}), and no readings have arrived from {zone} since {time}."],
  [END([S("Thanks for checking. I'm escalating this to our firmware team with your gateway's logs, and one of them will call you tomorrow morning."),
        IF("chat", [C("Thank you. I'll make sure I'm near the phone.")])],
       ["The firmware team will call {name} tomorrow morning, after support has escalated the case with the gateway's logs."]),
   END([S("Thanks. Please leave it powered and connected: one of our engineers will look at it remotely this afternoon and email you what they find."),
        C("OK, it stays as it is. Thanks for the quick help.")],
       ["A Fernhollow engineer will look at the {P} remotely this afternoon and email {name} the findings, while the gateway stays powered and connected."])],
  codes=pool(exclude=TEST_ONLY_CODES), flags={"chat": 0.5})

T("gateway-code-new-install", "device_error", "train", [CG],
  [C("We installed the new {P} from order {order_said} on {date}, but it has never come online. The setup page just shows error {code}. Our old gateway worked fine in the same spot.",
     "The {P} we received with order {order_said} went up on {date}, and it still isn't online. All the setup page shows is error {code}."),
   IF("corr",
      [S("Thanks, {name}. I can't find order {order_wrong} under your account - could you double-check the number on the packing slip?"),
       C("Sorry, my mistake: the order number is actually {order}. I mixed it up with our seed order.",
         "Apologies, that was our previous order. The right one is {order}.")],
      [S("Thanks for the details. Which uplink does it use, Ethernet or Wi-Fi, and is the LED solid red or blinking?"),
       C("It's on Ethernet, and the LED is {led}.", "Wi-Fi, through the access point in the shed. The LED is {led}.")])],
  ["The new {P} from order {order}, installed on {date}, shows error {code} ({meaning}) and has never come online."],
  [END([S("Thanks. I'd like to go through it with you: could you be at the gateway on {day} at 10:00 so I can call you and look at the setup page together?"),
        C("{day} at 10:00 works. I'll be in the packing shed next to it.")],
       ["Support will call {name} on {day} at 10:00 to go through the gateway's setup page together."]),
   END([S("Thanks. Please follow the steps for {code} in the gateway error code reference; if the code is still there afterwards, reply here and we'll swap the unit.")],
       ["{name} will follow the steps for {code} in the gateway error code reference and reply if it persists, and support will then swap the unit."])],
  codes=pool("G-322", "G-340", "G-355"), flags={"corr": 0.7}, corrects="order")

T("device-code-warranty", "device_error", "train", [R2, DM, CG],
  [C("Is the {P} we bought in {month} {year} still under warranty? It now shows error {code} and has stopped sending some of its readings. It was part of order {order}.",
     "Quick warranty question: our {P} from order {order}, delivered in {month} {year}, has started showing error {code}. Is it still covered?"),
   S("It is: the {P} has a 3-year warranty from delivery, so you're well covered. I've opened a warranty case. Could you confirm the delivery address for the replacement?",
     "Yes, it's covered - the warranty on the {P} runs for 3 years from delivery. I've started a warranty case for you. Where should we send the replacement?"),
   ],
  ["The {P} from order {order}, delivered in {month} {year}, shows error {code} ({meaning})."],
  [END([C("Great, thank you. Please send it to {address}, not the address on the invoice, which is our office.",
          "Thanks! Please ship it to {address} - the invoice address is our accountant's."),
        S("Done. The replacement ships tomorrow to {address}, and a return label for the old unit is in your inbox."),
        IF("chat", [C("Brilliant, thanks for sorting it so quickly.", "Perfect, that was painless. Thank you!")])],
       ["Support will ship a replacement {P} under warranty to {address} tomorrow, and {name} will return the faulty one with the emailed label."], w=2),
   END([C("That's a relief, thank you. Please send the replacement to {address} rather than the invoice address, which is only our office. Someone is there every weekday morning to sign for parcels.")],
       ["Support will send the replacement {P} to {address} under the warranty case."])],
  codes=pool("E-101", "E-130", "E-203", "G-340", "G-355"), flags={"chat": 0.6})

T("api-code-script", "api_error", "train", [RA],
  [C("Our irrigation script talks to the {P}, and since {date} about one call in {x} fails with HTTP {status} and the error code {code}. As far as I know nothing changed on our side. One failing request had the ID {req}.",
     "Since {date} we've been getting HTTP {status} responses with the code {code} from the {P}, roughly one call in {x}. It's our home-made irrigation script that's affected. Example request ID: {req}."),
   S("Thanks, the request ID helps a lot. Which token does the script use, and does any other integration share it?",
     "Thanks for including a request ID. Could you tell me whether the script has its own token or shares one with another integration?"),
   C("It's the same token our dashboard uses, now that you mention it. Our developer {colleague} set both up in {month}.",
     "As far as I know only the script uses that token. {colleague}, our developer, set it up in {month}.")],
  ["Since {date}, about one in {x} calls from their irrigation script to the {P} fails with HTTP {status} and error {code} ({meaning})."],
  [END([S("Thanks. I'll look up request {req} in our server logs and reply by tomorrow with what I find."),
        C("Perfect, I'll let {colleague} know.")],
       ["Support will look up request {req} in the server logs and reply to {name} by tomorrow."]),
   END([S("Thanks. The error reference of the {P} explains {code}; could {colleague} compare the script with it? If the failures continue after that, send me two or three more request IDs.")],
       ["{name}'s developer {colleague} will check the script against the {P} error reference for {code}, and {name} will send support more request IDs if the failures continue."])],
  codes=pool("valve_busy", "rate_limited", "device_not_found"))

T("sensor-code-comes-and-goes", "device_error", "train", [DM, R2],
  [C("Odd one: the {P} in {zone} shows error {code} for a few hours most days, then it clears by itself. It started around {date}. Should I be worried?",
     "Not urgent, but I'm puzzled: since about {date} the {P} in {zone} reports error {code} for part of the day and then goes back to normal. Any idea?"),
   S("Thanks for the detail. Does it happen at a particular time of day, and did anything change in {zone} around {date}?",
     "Interesting one. Is there a pattern in the time of day, and did you change anything in {zone} around {date}?"),
   C("Usually from about {time} until late morning. The only change is that we moved the {crop} into {zone} around then.",
     "It tends to start around {time} and is gone by lunch. We did start growing {crop} in there around that date.")],
  ["Since about {date}, the {P} in {zone} has shown error {code} ({meaning}) for a few hours most days before it clears by itself."],
  [END([S("Thanks, that helps. Could you note the times it appears until Friday? I'll compare them with the readings on our side and get back to you."),
        C("Sure, {colleague} does the morning rounds, so she'll keep a log.")],
       ["{name}'s colleague {colleague} will log when {code} appears until Friday, and support will compare the times with the readings."]),
   END([S("Thanks. The error code reference in our help centre has the steps for {code}; could you try them and tell me next week whether it still comes and goes?")],
       ["{name} will try the help-centre steps for {code} and tell support next week whether it still comes and goes."])],
  codes=pool("E-217", "E-225", "E-112"))

T("gateway-code-site-down", "device_error", "train", [CG],
  [C("Urgent: nothing from any of our sensors since {time}. The {P} in the packing shed has power, and the setup page shows error {code_said}. We have {n} houses of {crop} and no climate data at all.",
     "We're blind this morning - no readings from anywhere on the site since {time}. The {P} is powered, but its setup page shows error {code_said}. There are {n} houses of {crop} out there."),
   S("I'm sorry, that's a bad start to the day. Could you tell me the gateway's firmware version from the setup page, and whether it's on Ethernet or Wi-Fi?"),
   IF("corr",
      [C("Firmware {fw}, on Ethernet. And sorry, I wrote down {code_wrong} in a hurry earlier; the screen definitely says {code}.",
         "It's on {fw}, connected by Ethernet. Also, correction: the code is {code}, not {code_wrong} - I misread it in the dark.")],
      [C("Firmware {fw}, on Ethernet. The LED is {led}, if that matters.",
         "It's on {fw}, connected by Ethernet. Nobody has touched the shed since yesterday.")])],
  ["No sensor data has arrived since {time}, and the {P} (firmware {fw}, on Ethernet) shows error {code} ({meaning})."],
  [END([S("Thanks. I'll call you within 15 minutes on the number in your account, and we'll go through it on the phone."),
        IF("chat", [C("Thank you, I'll stay by the phone.")])],
       ["Support will phone {name} within 15 minutes to go through the gateway together."])],
  codes=pool(exclude=TEST_ONLY_CODES), flags={"corr": 0.5, "chat": 0.5}, corrects="code")

T("device-code-misread", "device_error", "train", [R2, DM, CG],
  [C("Our grower {colleague} noticed this morning that the {P} in {zone} shows an error code. She read it out to me as {code_wrong} over the phone. Is that something we can fix ourselves?",
     "Quick question from the farm: {colleague}, one of our growers, says the {P} in {zone} is showing error {code_wrong}. She called it in from the field. Can we sort that out ourselves?"),
   S("Happy to help. Could you ask {colleague} for a photo of the {page}, just so we're sure about the code?",
     "Of course. Before we go further, could {colleague} send a photo of the {page}? Codes are easy to misread."),
   C("Here it is, and sorry: she misread it. It's {code}, not {code_wrong}.",
     "Photo attached - and you were right to ask, it actually says {code}, not {code_wrong}.")],
  ["The {P} in {zone} shows error {code} ({meaning}), first spotted by {colleague} this morning."],
  [END([S("Thanks, that makes more sense. I'll email you the steps for {code} now; if it's still showing tomorrow, let me know and I'll arrange a swap.")],
       ["Support will email the steps for {code}, and if the error is still there tomorrow {name} will tell support, who will arrange a swap."]),
   END([S("Thanks for the photo. For {code} I'd rather send a technician: would {day} morning suit you?"),
        C("{day} morning is fine, {colleague} will be there from 7.")],
       ["Support will send a technician on {day} morning, and {colleague} will be on site to meet them."])],
  codes={k: v for k, v in pool(exclude=TEST_ONLY_CODES).items() if k != RA}, corrects="code", flags={"corr": 1.0})

T("sensor-code-after-batteries", "device_error", "train", [R2, DM],
  [C("We replaced the batteries in {n} {P} {units} on {date}, and one of them, in {zone}, has shown error {code} ever since. The others came back normally.",
     "On {date} we did the battery change on all {n} of our {P} {units}. One of them, the one in {zone}, now shows error {code}, while the rest are fine."),
   S("Thanks for the detail. Could you check which firmware that {p} shows on its device page, and whether the battery contacts look clean?"),
   C("Contacts look clean. It's on {fw}, the same as the others.",
     "The contacts are spotless, and it says firmware {fw}.")],
  ["Since a battery change on {date}, one of {n} {P} {units}, in {zone} (firmware {fw}), shows error {code} ({meaning})."],
  [END([S("Thanks. Please take that {p} out and send it back to us for testing; I've emailed you a return label, and we'll ship a replacement as soon as it arrives."),
        IF("chat", [C("Will do, it'll go out with tomorrow's post.")])],
       ["{name} will send the {P} back for testing with the emailed label, and support will ship a replacement once it arrives."]),
   END([S("Thanks. Could you take the batteries out, wait a minute and put them back in once more? If {code} is still there after that, I'll replace it."),
        C("Tried it just now, and {code} is back, unfortunately."),
        S("Thanks for trying. A replacement goes out tomorrow, with a label to send the old one back.")],
       ["Support will send a replacement {P} tomorrow, and {name} will return the old one with the label."])],
  codes=pool("E-101", "E-130", "E-203"), flags={"chat": 0.5})

T("gateway-code-out-of-warranty", "device_error", "train", [CG],
  [C("Our old {P} has shown error {code} since {day}, and it's been with us since {oldyear}, so it's probably out of warranty by now. What would a new one cost?",
     "The {P} we bought back in {oldyear} started showing error {code} on {day}. I assume the warranty has run out, so what would a replacement cost us?"),
   S("Sorry to hear that. You're right, the 3-year warranty has ended. A new {P} is EUR 379, plus EUR 7.90 for standard delivery because the order is under EUR 500. If you like, I can put that in a written quote for you.")],
  ["Their {P}, in use since {oldyear} and out of warranty, has shown error {code} ({meaning}) since {day}."],
  [END([C("OK, that's fair. Could you send me a quote for one? I need to run it past {colleague} before we order."),
        S("Of course, the quote is on its way by email. It's valid for 8 weeks."),
        IF("chat", [C("Got it, thanks. I'll come back to you after our Friday meeting.")])],
       ["Support has emailed a quote for a new {P} at EUR 379, and {name} will check it with {colleague} before ordering."]),
   END([C("That's fair, thanks for being straight about it. Yes, please email me a written quote for one. I'll run it past {colleague}, our director, and if she agrees we'll order this week.")],
       ["Support will email {name} a written quote for a new {P} at EUR 379, which {name} will check with {colleague} before ordering."])],
  codes=pool("G-340", "G-355"), flags={"chat": 0.6})

# ================================ TRAIN: threads without an error code =======================
T("shipping-late", "shipping", "train", HW,
  [C("Could you check on order {order}? It's {n} {P} {units}, ordered on {date}, and the tracking hasn't moved since {day}. We wanted them in before planting, and our installer is already booked.",
     "Any news on order {order}? We ordered {n} {P} {units} on {date}, and the tracking page has said 'in transit' since {day}. Normally your parcels reach us in a couple of days."),
   S("Thanks for your patience. The carrier reports a delay at their hub, and the parcel is now due on {day2}. I've asked them to prioritise it.",
     "Sorry for the wait. I've checked with the carrier: the parcel got stuck at a sorting hub and should reach you on {day2}. I've flagged it as urgent with them."),
   IF("ask", [C("Do we need to be there to sign for it? The farm office is only staffed in the mornings."),
              S("No signature is needed for this parcel. If you add a safe-place note on the tracking page, the driver will leave it in the shed.")])],
  ["Order {order} of {n} {P} {units}, placed on {date}, has not moved in tracking since {day}."],
  [END([C("Thanks. If it hasn't arrived by {day2}, could you send the {units} again by express instead?"),
        S("Yes. If it hasn't arrived by {day2} evening, I'll dispatch a new set by express delivery at no cost to you.")],
       ["Support will check on {day2} and, if the parcel has not arrived, send {n} new {units} by express delivery at no cost."]),
   END([C("OK, thanks for chasing it. I'll let you know if it doesn't turn up."),
        IF("chat", [S("Please do. I'll keep an eye on the tracking as well.")])],
       ["{name} will tell support if the parcel, now due on {day2}, does not arrive."])],
  flags={"chat": 0.6, "ask": 0.6})

T("shipping-damaged", "shipping", "train", HW,
  [C("Our parcel for order {order} arrived this morning with a crushed corner, and {k_said} of the {n} {P} {units} inside have cracked housings. The rest look fine, and I've kept all the packaging.",
     "Bad news from our goods-in: order {order} came with the box caved in, and {k_said} of the {n} {P} {units} are cracked. We haven't installed any of them."),
   S("I'm sorry about that. Could you send a few photos of the box and the cracked {units}? We'll handle the claim with the carrier."),
   IF("corr",
      [C("Photos attached. One correction, sorry: only {k} are cracked, not {k_wrong} - I counted one twice.")],
      [C("Photos attached. The box was also wet on one side, if that matters.",
         "Photos are attached, including the courier's label.")])],
  ["{k} of the {n} {P} {units} in order {order} arrived with cracked housings in a crushed parcel."],
  [END([S("Thanks, that's all we need. {k} replacement {units} ship today at no charge, and you don't need to send the damaged ones back.")],
       ["Support will ship {k} replacement {units} today at no charge, and {name} does not need to return the damaged ones."])],
  flags={"corr": 0.5}, corrects="k")

T("shipping-wrong-item", "shipping", "train", [R2, DM],
  [C("We ordered {n} {P} {units} on order {order}, but the box that came today has {n} {O} {ounits} in it instead. The packing slip says {P}, so I think it was just packed wrong.",
     "Small mix-up with order {order}: we were expecting {n} {P} {units}, and we got {n} {O} {ounits}. Our installer is booked already."),
   S("Apologies for the mix-up. I'll send the {P} {units} by express delivery today. Could you send the {O} {ounits} back with the prepaid label I've just emailed?"),
   C("Will do. Could you make sure the {units} arrive before {day}? We're installing then, and I'd rather not rebook the installer.")],
  ["Order {order} for {n} {P} {units} arrived with {n} {O} {ounits} instead."],
  [END([S("They'll be with you tomorrow, well before {day}. Sorry again for the trouble."),
        IF("chat", [C("Great, thanks. The wrong ones go back this afternoon.")])],
       ["Support will send {n} {P} {units} by express delivery to arrive before {day}, and {name} will return the {O} {ounits} with the prepaid label."])],
  flags={"chat": 0.5})

T("billing-double-charge", "billing", "train", [FB],
  [C("I was going through our bank statement and noticed we've been charged twice for our {P} {plan} plan: two payments of EUR {pp}, both on {date}. We only have the one account as far as I know. Could you refund one of them?",
     "Hello, we seem to have paid twice this month. Our {P} {plan} plan was charged EUR {pp} twice on {date}, and we only have one subscription."),
   S("Sorry about that, and thanks for spotting it. I can see both payments on our side; it looks like the renewal ran twice. Could you confirm they were both taken from the same card?"),
   C("Yes, both from the same card, the one ending in {card}. It's the company card, so our bookkeeper noticed too.")],
  ["Their {P} {plan} plan was charged twice, two payments of EUR {pp} on {date}."],
  [END([S("Thanks. I've refunded the duplicate EUR {pp}; it should reach the card within 10 business days."),
        IF("chat", [C("Great, thanks for sorting it so quickly.")])],
       ["Support has refunded the duplicate EUR {pp}, which should reach the card ending in {card} within 10 business days."]),
   END([S("Thanks. Our finance team will refund the duplicate payment, and you'll get a confirmation email from billing@fernhollow.example within 2 working days.")],
       ["The finance team will refund the duplicate EUR {pp} payment and email {name} a confirmation within 2 working days."])],
  flags={"chat": 0.5})

T("billing-wrong-price", "billing", "train", HW,
  [C("The invoice for order {order} charges EUR {wrong} per {P} {unit}, but your price list says EUR {list}. We ordered {n} of them, so it adds up to quite a difference. Could you check it?",
     "I think there's a mistake on the invoice for order {order}: the {n} {P} {units} are billed at EUR {wrong} each, while your current price list says EUR {list}."),
   S("You're right, thanks for spotting it. The old price list was applied to your order by mistake. I'll issue a credit note for the difference."),
   C("Thanks. Could the difference go back to our card rather than onto the next invoice? We close our books at the end of the month.")],
  ["The invoice for order {order} charges EUR {wrong} per {P} {unit} instead of the list price of EUR {list}, for {n} {units}."],
  [END([S("Of course. You'll get the credit note by email today, and the refund will show on your card within 10 business days.")],
       ["Support will email a credit note today and refund the price difference to {name}'s card within 10 business days."]),
   END([S("Yes, but the card refund has to go through our finance team, so it may take until {day2}. I'll make sure the credit note reaches you today."),
        C("That's fine, thanks.", "No problem, {day2} is fine.")],
       ["Support will email the credit note today, and the finance team will refund the difference to the card by {day2}."])])

T("billing-invoice-vat", "billing", "train", HW,
  [C("Could you send me a copy of the invoice for order {order_said}, with our VAT number {vat} on it? It's for the {n} {P} {units} we bought in {month}. Our accountant needs it for the quarterly return, and the one we have shows no VAT number at all."),
   IF("corr",
      [S("Of course. I can't see order {order_wrong} on your account, though - could you check the number?"),
       C("Sorry, the order number is actually {order}. I copied it from the wrong email.",
         "Apologies, wrong number: it's {order}.")],
      [S("Of course. Just to check, should the invoice stay addressed to {company}, or to a different legal entity?"),
       C("Same company name, just with the VAT number added, please.")])],
  ["{name} needs a copy of the invoice for order {order} ({n} {P} {units}) showing their VAT number {vat}."],
  [END([S("Thanks. I've asked our finance team to reissue the invoice for order {order} with your VAT number; you'll have it by email within 2 working days."),
        IF("chat", [C("Perfect, thanks a lot.")])],
       ["The finance team will reissue the invoice for order {order} with VAT number {vat} and email it to {name} within 2 working days."])],
  flags={"corr": 0.6, "chat": 0.3}, corrects="order")

T("account-new-phone-2fa", "account", "train", [FB],
  [C("I got a new phone at the weekend, and now I can't get past the two-step verification in {P}. I'm the main admin for {company}, so nobody else can reset it for me.",
     "Since I changed phones I'm locked out of {P}: it keeps asking for a two-step code that goes to my old phone. I'm the only admin at {company}."),
   S("Sorry about that. For security I need to verify you first: could you reply from the email address on the account and tell me the date of your last invoice?"),
   C("Replying from it now. The last invoice was dated {date}.")],
  ["{name} can't get past two-step verification in {P} after changing phones and is the only admin."],
  [END([S("Thanks, that matches. I've reset two-step verification on your account, so next time you log in you'll be asked to set it up on the new phone."),
        IF("chat", [C("Brilliant, I'll do that this evening.")])],
       ["{name} will log in to {P} and set up two-step verification again on the new phone."]),
   END([S("Thanks. That date doesn't match our records, I'm afraid, so I'll need the account owner to confirm by phone. Could they call us on a weekday between 08:00 and 18:00?"),
        C("That's {colleague}, our director. I'll ask her to ring you tomorrow.")],
       ["{name} will ask the account owner, {colleague}, to phone support tomorrow to confirm the two-step verification reset."])],
  flags={"chat": 0.5})

T("account-admin-handover", "account", "train", [FB],
  [C("Our former farm manager {mcol} left in {month}, and the {P} admin account is still under his email address. Could you move the admin rights to me? I'm now running the site at {company}."),
   S("Happy to help. As the change affects who controls the account, we need a short confirmation from the account owner or a director. Could you send a signed note on company paper?"),
   C("Our director {colleague} can sign that. Would a scanned PDF do, or do you need the original?")],
  ["The {P} admin account is still under the email address of {mcol}, who left in {month}, and {name} needs the admin rights."],
  [END([S("A scanned PDF is fine. As soon as it arrives, I'll move the admin rights to your login and remove his access."),
        IF("chat", [C("Perfect, I'll send it over tomorrow.")])],
       ["{name} will send a scanned note signed by {colleague}, and support will then move the {P} admin rights to {name} and remove {mcol}'s access."])],
  flags={"chat": 0.6})

T("account-api-contractor", "account", "train", [RA],
  [C("We've hired a contractor, {mcol}, to build a dashboard from our readings. What's the right way to give him access to the {P} without handing over my own login?",
     "A developer, {mcol}, is building us a dashboard, and he needs our readings from the {P}. How do I give him access without sharing my password?"),
   S("Good question. Create a separate token for him in Fieldbook under Settings > API tokens, and give it only the readings:read scope. Tokens expire after 90 days, which suits a short job."),
   C("Makes sense. We're on the Grower plan, though - is the {P} included in that?")],
  ["{name} wants to give the contractor {mcol} access to the {P}, which their Grower plan does not include."],
  [END([S("On the Grower plan the {P} is an add-on at EUR 19 per month, which you can cancel once the job is done."),
        C("OK, I'll add it today and set up the token for him.")],
       ["{name} will add the {P} to the Grower plan at EUR 19 per month and create a token with only the readings:read scope for {mcol}."])])

T("feature-request", "feature_request", "train", PRODUCTS,
  [C("Loving {theP} so far, but one thing is missing for us: {idea} Is that on the roadmap at all?",
     "Feature idea from {company}: {idea} We'd use it every day."),
   S("Thanks for the suggestion, that's a good one. It isn't planned at the moment, but I've logged it for our product team. Could you tell me a bit more about how you'd use it?"),
   C("{usecase}")],
  ["{name} asks for {wish}, which is not on the roadmap yet."],
  [END([], ["Support will add {name}'s use case to the request it has logged for the product team."]),
   END([S("Thanks, that's really useful context. I've added it to the request, and I'll let you know if it makes it onto the roadmap."),
        IF("chat", [C("Thanks, fingers crossed.", "Great, thank you for listening.")])],
       ["Support has logged the request with the product team and will tell {name} if it makes the roadmap."])],
  flags={"chat": 0.6}, ideas=IDEAS_TRAIN)

T("irrigo-zone-open-circuit", "hardware", "train", [IV],
  [C("Zone {z} on our {P} won't open since {day}. The zone LED flashes red, and the {crop} in {zone} are drying out, so we're watering by hand for now.",
     "Since {day}, zone {z} of the {P} refuses to open. Its LED is flashing red. We're hand-watering the {crop} in {zone} meanwhile."),
   S("Sorry to hear that. A flashing red zone LED means the controller sees an open circuit. Could you measure the coil resistance at the terminals of zone {z}? A healthy 24 VAC solenoid reads 20 to 60 ohms."),
   C("I measured it: nothing at all on zone {z}, so an open circuit. The cable runs about {m} m out to the valve.")],
  ["Zone {z} of the {P} won't open: its LED flashes red and the coil measures as an open circuit."],
  [END([S("Then the cable or the solenoid coil is broken rather than the controller. Please check the cable joints first; if they're fine, the solenoid needs replacing."),
        C("OK, our technician {mcol} will check the joints tomorrow morning.")],
       ["{name}'s technician {mcol} will check the cable joints of zone {z} tomorrow morning, and the solenoid will be replaced if the joints are fine."]),
   END([S("That points to the cable or the valve, not the {P}. One of our certified installers near you could come out on {day2}; shall I book them?"),
        C("Yes please, {day2} is fine."),
        S("Booked. The installer will call you the evening before to confirm the time.")],
       ["Support has booked a certified installer for {day2}, who will call {name} the evening before to confirm the time."])])

T("sensor-offline-after-batteries", "connectivity", "train", [R2, DM],
  [C("Our {P} in {zone} has been shown as offline in Fieldbook since {date}. The gateway is fine, and the other {units} in that house report normally.",
     "One {P}, in {zone}, has been offline in Fieldbook since {date}, while everything else on the same gateway is fine."),
   S("Thanks. Could you check the battery level on its device page, and whether anything new - a metal rack or a water pipe, say - now sits between the {p} and the gateway?"),
   C("The battery was at {pct} % before it went offline, so I swapped the batteries this morning anyway, but it's still offline. Nothing new is in the way that I can see.")],
  ["The {P} in {zone} has been offline in Fieldbook since {date}, and new batteries did not bring it back."],
  [END([S("Thanks for trying that. Let's pair it again: open the pairing window on the gateway page in Fieldbook, pair the {p} as in the installation guide, and tell me whether it comes back."),
        C("Will do after lunch and let you know.")],
       ["{name} will pair the {P} with the gateway again and tell support whether it comes back online."]),
   END([S("Thanks. Could you send me its serial number? I'll check on our side what the gateway last heard from it and reply this afternoon."),
        IF("chat", [C("Sure, I'll send it as soon as I'm back in the office.")])],
       ["{name} will send the serial number of the {P}, and support will check what the gateway last received from it and reply this afternoon."])],
  flags={"chat": 0.5})

T("return-unopened", "shipping", "train", HW,
  [C("We ordered {n} {P} {units} on order {order}, but it turns out we only need {k}. Can we send the other {r} back? They're still sealed in their boxes.",
     "We over-ordered on {order}: {n} {P} {units}, and we'll only use {k}. Could we return the remaining {r}, unopened?"),
   S("Yes - unopened hardware returned within 40 days of delivery is refunded in full. I've registered the return, and your return authorisation number is {rma}. Would you like a prepaid label? Note that EUR 8.50 is deducted from the refund if you use it.")],
  ["{name} ordered {n} {P} {units} on order {order} but needs only {k}, and wants to return the other {r} unopened."],
  [END([C("We'll use our own courier then. They were delivered on {date}, so we're well within the window."),
        S("Perfect. Please put {rma} on the parcel; the refund follows within 10 business days of our inspection."),
        IF("chat", [C("Will do, thanks for the quick help.")])],
       ["{name} will send the {r} sealed {units} back with their own courier, marked {rma}, and support will refund them after inspection."], w=2),
   END([C("Thanks, that's easy. We'll skip the label and use our own courier, since they come past on {day} anyway. The boxes were delivered on {date}, so we're well inside the 40 days, and I'll write {rma} on the parcel.")],
       ["{name} will send the {r} sealed {units} back with their own courier on {day}, marked {rma}, for a full refund."])],
  flags={"chat": 0.5})

# ================================ VALIDATION =================================================
T("starter-kit-code", "device_error", "validation", [R2, DM],
  [C({R2: "We set up the Greenhouse Starter Kit from order {order} on {date}, and one of the four {P} {units} shows error {code} in Fieldbook. The gateway and everything else came online without trouble.",
      DM: "We set up the Greenhouse Starter Kit from order {order} on {date}, and the {P} in it shows error {code} in Fieldbook. The gateway and the probes came online without trouble."}),
   S("Congratulations on the new set-up, and sorry it didn't go smoothly. Which firmware does the {p} report on its device page?"),
   C("It shows {fw}. I haven't touched any settings.", "Firmware {fw}. We left everything on the defaults.")],
  ["A {P} from the Greenhouse Starter Kit in order {order}, set up on {date} (firmware {fw}), shows error {code} ({meaning})."],
  [END([S("Thanks. As the kit is brand new, I'll simply replace the {P}. It ships tomorrow, and the box will contain a return label for the faulty one."),
        IF("chat", [C("Thanks, that's a relief.", "Great, thank you for the quick answer.")])],
       ["Support will ship a replacement {P} tomorrow, and {name} will return the faulty one with the enclosed label."])],
  codes=pool("E-101", "E-112", "E-130", "E-203", "E-225"), flags={"chat": 0.6})

T("gateway-code-moved", "device_error", "validation", [CG],
  [C("On {date} we moved our {P} into the new packing shed, and since then the setup page shows error {code}. I've already powered it off and on again twice, but the code came straight back."),
   S("Thanks for trying that first. Did anything else change in the move, like the network cable, the router or the Wi-Fi?"),
   C("New cable and a new switch, same router. The shed is also a lot further from the houses, about {m} m.")],
  ["Since the {P} was moved into a new packing shed on {date}, it shows error {code} ({meaning}), even after two power cycles."],
  [END([S("Thanks. I'll ask one of our engineers to look at the gateway's logs remotely; they'll email you by {day} with what they find.")],
       ["A Fernhollow engineer will check the gateway's logs remotely and email {name} by {day}."]),
   END([S("Thanks. Could you move it back to its old spot for a day as a test? If {code} goes away there, we'll know it's the new set-up rather than the gateway."),
        C("We can do that tomorrow. I'll report back on {day}.")],
       ["{name} will put the {P} back in its old spot tomorrow as a test and report to support on {day}."])],
  codes=pool(exclude=TEST_ONLY_CODES))

T("device-code-night-shift", "device_error", "validation", [R2, DM, CG],
  [C("Our night shift logged error {code} on the {P} in {zone} at {time}, and it's still showing this morning. Everything else on the site looks normal. The {page} says firmware {fw_said}."),
   S("Thanks for the clear report. Has anyone been into {zone} since, and did the code appear after any work there?"),
   IF("corr",
      [C("Nobody has been in since. Also, a correction: the firmware is {fw}, not {fw_wrong} - I was looking at the wrong device.")],
      [C("Nobody has been in since, and there was no work in there yesterday.")])],
  ["The {P} in {zone} (firmware {fw}) has shown error {code} ({meaning}) since {time}."],
  [END([S("Thanks. I'll keep an eye on it from here today; if it hasn't cleared by {time2} tomorrow, I'll arrange a technician visit without waiting for another message."),
        IF("chat", [C("Thanks, that's reassuring.")])],
       ["Support will monitor the {P} today and arrange a technician visit if {code} has not cleared by {time2} tomorrow."])],
  codes={k: v for k, v in pool(exclude=TEST_ONLY_CODES).items() if k != RA}, flags={"corr": 0.5, "chat": 0.5},
  corrects="fw")

T("shipping-address-change", "shipping", "validation", HW,
  [C("Could you change the delivery address for order {order}? It's {n} {P} {units} that should now go to our new site at {address}. The order hasn't shipped yet, as far as I can tell."),
   S("Thanks for catching it in time. The order is still at our warehouse, so I can change it. Could you confirm a contact name and phone number for the driver?"),
   C("Please put {colleague} as the contact, on {phone}. She's there every weekday from 7.")],
  ["Order {order} of {n} {P} {units} has to go to the new site at {address} instead of the old address."],
  [END([S("Done: order {order} now goes to {address}, with {colleague} as the contact. It ships this afternoon."),
        IF("chat", [C("Great, thanks a lot.")])],
       ["Fernhollow will ship order {order} this afternoon to {address}, with {colleague} as the delivery contact."])],
  flags={"chat": 0.5})

T("billing-api-addon-on-estate", "billing", "validation", [RA],
  [C("Our latest invoice, {inv}, includes the {P} add-on at EUR 19 per month. We moved to the Estate plan in {month}, and I understood the {P} was included in that. Could you take a look?"),
   S("You're right: the {P} is included in the Estate plan, so the add-on should have been removed when you upgraded. Sorry about that."),
   C("Thanks. It's been on the last {k} invoices, I think, so EUR {t19} in total.")],
  ["Although on the Estate plan since {month}, they were charged the {P} add-on at EUR 19 per month on {k} invoices, EUR {t19} in total."],
  [END([S("I've checked, and it's {k} invoices as you say. I'll remove the add-on and refund the EUR {t19} within 10 business days."),
        IF("chat", [C("Great, much appreciated.")])],
       ["Support will remove the {P} add-on and refund the EUR {t19} within 10 business days."])],
  flags={"chat": 0.5})

T("irrigo-flow-alarm", "hardware", "validation", [IV],
  [C("Zone {z} on our {P} keeps closing with a high-flow alarm since we changed the drippers in {zone} on {date}. There's no burst pipe; we've walked the whole line twice."),
   S("Thanks for checking the line. The controller learns the normal flow of each zone during its first 5 runs, so after new drippers it still expects the old flow. Choosing Relearn flow on the device page should fix it."),
   C("Ah, that makes sense - we fitted higher-flow drippers. Does it water normally while it relearns?")],
  ["Zone {z} of the {P} keeps closing with a high-flow alarm since new drippers were fitted in {zone} on {date}."],
  [END([S("Yes, it waters normally during the 5 learning runs, and the alarm uses the new flow afterwards. Let me know if it trips again after that."),
        IF("chat", [C("Will do, thanks for the quick answer.")])],
       ["{name} will choose Relearn flow for zone {z} on the device page and tell support if the alarm trips again after the 5 learning runs."])],
  flags={"chat": 0.5})

# ================================ TEST =======================================================
T("sensor-code-walk-round", "device_error", "test", [R2, DM],
  [C("During this week's walk-round in {zone} we found {k} {P} {units} showing error {code}. They're all from order {order}, delivered in {month}. The readings they still send look plausible."),
   S("Thanks for the thorough check. Are the other {units} from that order fine, and are the affected ones close to each other?"),
   C("The other ones are fine. The {k} with the error are all along the same bench, near the door.")],
  ["{k} {P} {units} from order {order} in {zone} show error {code} ({meaning})."],
  [END([S("Thanks, that's helpful. I'll send you the troubleshooting steps for {code} by email; if they don't clear it, we'll replace all {k} under warranty."),
        C("Sounds good. We'll try the steps tomorrow and let you know.")],
       ["{name} will try the emailed steps for {code} tomorrow, and support will replace the {k} {units} under warranty if that does not clear it."]),
   END([S("Thanks. Since it's several {units} from one order, I'd like our quality team to look at them: I'll send a box and a label for all {k}, and replacements go out the same day."),
        IF("chat", [C("Perfect, we'll pack them up as soon as the box arrives.")])],
       ["Support will send a box and label for the {k} {units} for the quality team and ship replacements the same day."])],
  codes=pool(), flags={"chat": 0.5})

T("gateway-code-screenshot", "device_error", "test", [CG],
  [C("Our {P} has had a {led} light since this morning, and the setup page shows error {code_wrong}. It's on firmware {fw}. Everything behind it is offline."),
   S("Sorry to hear that. Could you send me a screenshot of the setup page? I'd like to see the exact code and the uptime."),
   C("My mistake, I should have looked more carefully: the screenshot shows {code}, not {code_wrong}. Uptime says {h} hours.")],
  ["The {P} (firmware {fw}) shows a {led} light and error {code} ({meaning}), and everything behind it is offline."],
  [END([S("Thanks for the screenshot. I've checked the code and I'm passing the case to our network team, who will call you within the hour."),
        IF("chat", [C("Thank you, I'll keep my phone on me.")])],
       ["Support's network team will call {name} within the hour about the gateway."]),
   END([S("Thanks. I'd like a technician to look at it on site; would {day} morning work for you?"),
        C("{day} morning works. I'll leave the gateway as it is until then.")],
       ["A technician will visit on {day} morning, and {name} will leave the {P} untouched until then."])],
  codes={CG: ALL[CG]}, flags={"corr": 1.0, "chat": 0.5}, corrects="code")

T("api-code-nightly-job", "api_error", "test", [RA],
  [C("Our nightly job that talks to the {P} - it pulls readings and starts the morning watering runs - has been failing since {date}. The response is HTTP {status} with the code {code}, and last night's request ID was {req}. We didn't touch the script."),
   S("Thanks for the request ID. How many requests does the job send per run, and does it run on its own token?"),
   C("About {nreq} requests, all in one burst at {time}. It shares a token with our irrigation dashboard.")],
  ["Since {date}, their nightly job against the {P} has been failing with HTTP {status} and error {code} ({meaning})."],
  [END([S("Thanks. I'll check request {req} in our logs and send you a suggestion for the job by tomorrow; meanwhile, giving the job its own token is a good idea anyway."),
        C("OK, I'll create a separate token for it today.")],
       ["{name} will create a separate token for the nightly job today, and support will check request {req} in the logs and reply by tomorrow."])],
  codes=pool("valve_busy", "rate_limited", "device_not_found"))

T("sensor-code-two-sites", "device_error", "test", [R2, DM],
  [C("We have the same problem at both our sites: one {P} at each shows error {code}. Both came from order {order}. At the second site, in {zone}, it started on {date}."),
   S("Thanks for letting us know. Are the two {units} on the same firmware, and were they installed by the same person?"),
   C("Both are on {fw}. And yes, {colleague} installed both of them in {month}.")],
  ["Two {P} {units} from order {order}, one at each of their sites (firmware {fw}), show error {code} ({meaning})."],
  [END([S("Thanks. Two units from one order with the same code is worth a closer look, so our hardware team will contact you by {day} to arrange collecting both."),
        IF("chat", [C("Great, {colleague} will be around all week.")])],
       ["Support's hardware team will contact {name} by {day} to arrange collecting both {units}."])],
  codes=pool(), flags={"chat": 0.6})

T("gateway-code-power-cut", "device_error", "test", [CG],
  [C("We had a power cut on {date}, and since the power came back our {P} shows error {code} on the setup page. It's on firmware {fw}, and the LED is {led}."),
   S("Sorry to hear that. Please switch it off at the socket for at least 30 seconds and then back on. Does the code come back?"),
   C("Did that twice, and after a minute it's {led} again with {code}.")],
  ["Since a power cut on {date}, the {P} (firmware {fw}) shows a {led} LED and error {code} ({meaning}), even after restarts."],
  [END([S("Thanks for trying. I'm passing this to our hardware team with the gateway's details; they'll call you before noon tomorrow, and if it needs replacing, the new one ships the same day."),
        IF("chat", [C("Thanks, I appreciate the quick help.")])],
       ["Support's hardware team will call {name} before noon tomorrow and, if the {P} needs replacing, ship a new one the same day."])],
  codes={CG: ["G-310", "G-322", "G-340", "G-355"]}, flags={"chat": 0.6})

T("shipping-missing-items", "shipping", "test", HW,
  [C("Order {order} arrived yesterday, but the box only had {k} of the {n} {P} {units} we ordered. The packing slip lists all {n}, and there's no second parcel in the tracking."),
   S("Sorry about that. You reported it well within 3 working days, so we'll send the missing {units} at no charge. Could you confirm the delivery address is still {address}?"),
   C("Yes, the same address. Could they come by express? We're planting on {day}.")],
  ["Order {order} arrived with only {k} of the {n} {P} {units}, so {r} are missing."],
  [END([S("Of course. The missing {r} {units} ship today by express at no charge, so they should arrive tomorrow."),
        IF("chat", [C("Perfect, thank you!")])],
       ["Support will ship the missing {r} {P} {units} to {address} by express today at no charge."])],
  flags={"chat": 0.5})

T("billing-annual-cancel", "billing", "test", [FB],
  [C("We switched our {P} {plan} plan to annual billing on {date}, but we've just decided to move to a different system. Can we cancel and get the money back?"),
   S("Sorry to see you go. Annual subscriptions cancelled within 28 days of their start date are refunded in full, and you're still inside that window. Would you like me to cancel it now?"),
   C("Yes, please cancel it. Could you also make sure we can export all our readings first?")],
  ["{name} wants to cancel the annual {P} {plan} plan started on {date} and get a full refund."],
  [END([S("Of course. You can download everything as CSV or Parquet before the account closes; I'll cancel the plan on {day} to give you time, and the full refund follows within 10 business days."),
        C("Thanks, I'll download it before {day}.")],
       ["{name} will export the data before {day}, when support will cancel the annual {plan} plan and issue a full refund within 10 business days."])])

T("account-read-only-user", "account", "test", [FB],
  [C("How can I give our agronomist, {colleague}, access to {P} so she can see the readings but not change any alerts? She visits every {day}."),
   S("You can invite her as a user with a read-only role from the users page. On the Grower plan you have 5 user seats, so please check that one is free."),
   C("We're already using all 5 seats, I'm afraid. Is there a way round that?")],
  ["{name} wants read-only {P} access for the agronomist {colleague}, but all 5 user seats of the Grower plan are taken."],
  [END([S("You could remove a user who no longer needs access, or move to the Estate plan, which has unlimited seats. Let me know which you prefer and I'll help."),
        C("I'll check with {mcol} who still uses their login and come back to you.")],
       ["{name} will check with {mcol} which login can be freed for {colleague} and tell support whether to remove a user or move to the Estate plan."])])

T("feature-suggestion", "feature_request", "test", [R2, DM, CG, IV, FB],
  [C("Small suggestion from {company}: {idea} It would make a real difference for us."),
   S("Thank you, we love hearing ideas like this, and I'll pass it on to our product team. What would it let you do that you can't do today?"),
   C("{usecase}")],
  ["{name} suggests {wish}, which the product does not offer yet."],
  [END([], ["Support will pass the idea to the product team together with {name}'s example."]),
   END([S("That makes sense. I've passed it to our product team with your example; I can't promise a date, but I'll update you when there's news."),
        IF("chat", [C("Thanks, fingers crossed.")])],
       ["Support has passed the idea to the product team and will update {name} when there is news."])],
  flags={"chat": 0.6}, ideas=IDEAS_TEST)

T("irrigo-offline-schedule", "connectivity", "test", [IV],
  [C("Fieldbook has shown our {P} in {zone} as offline since {date}, and the changes I made to the watering programme yesterday haven't reached it. The controller is still watering on the old times, though."),
   S("That's the controller's local schedule at work: it keeps running its stored programmes for up to 14 days without contact to its gateway. Could you check the status LED on the gateway that the {p} reports to?"),
   C("The gateway LED blinks amber twice, over and over. We had a new broadband router installed that day, if that's relevant.")],
  ["Since {date}, Fieldbook has shown the {P} in {zone} as offline and programme changes have not reached it, while the gateway LED blinks amber twice."],
  [END([S("That pattern means the gateway's local network is up but it can't reach Fieldbook, so the new router is the likely cause. Could you check that the router allows the gateway's outbound connections, as listed in the installation guide?"),
        C("I'll ask our IT person, {mcol}, to look at the router settings tomorrow.")],
       ["{name}'s IT person {mcol} will check tomorrow that the new router allows the gateway's outbound connections, so the {P} can get the new programme."])])


# ---------------------------------------------------------------------------------------------
SLOT_RE = re.compile(r"\{(\w+)\}")
SENT_RE = re.compile(r"[.!?](?=\s|$)")
NUM_RE = re.compile(r"\d+(?:[.,:]\d+)*")
ORDER_RE = re.compile(r"\bFH-\d{5}\b")


def n_sentences(text):
    return len(SENT_RE.findall(text))


def _has_name(name, text):
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def n_words(messages):
    return sum(len(m["text"].split()) for m in messages)


def _alts(alts, prod):
    """Alternatives of one message: strings, or one dict product -> string."""
    if len(alts) == 1 and isinstance(alts[0], dict):
        return [alts[0][prod]]
    return list(alts)


def make_ctx(t, prod, code, rng, split):
    """Every slot value of one thread (the few the template doesn't use are harmless)."""
    name = rng.choice(NAMES)
    ctx = dict(name=name, company=rng.choice(COMPANIES), agent=rng.choice(AGENTS),
               colleague=rng.choice(COLLEAGUES_F), mcol=rng.choice(COLLEAGUES_M),
               P=prod, theP=prod if prod == FB else "the " + prod, unit=UNIT[prod][0], units=UNIT[prod][1], page=PAGE.get(prod, "device page"),
               zone=rng.choice(ZONES), crop=rng.choice(CROPS), time=rng.choice(TIMES), time2=rng.choice(TIMES2),
               month=rng.choice(MONTHS), year=str(rng.choice([2023, 2024])),
               oldyear=str(rng.choice([2018, 2019, 2020, 2021])), address=rng.choice(ADDRESSES))
    ctx["date"], ctx["date2"] = (f"{d} {rng.choice(MONTHS)}" for d in rng.sample(range(1, 29), 2))
    d1 = rng.randrange(0, 3)
    ctx["day"], ctx["day2"] = DAYS[d1], DAYS[d1 + rng.randint(1, 2)]
    orders = rng.sample(range(10000, 100000), 2)
    ctx["order"], ctx["order_wrong"] = f"FH-{orders[0]}", f"FH-{orders[1]}"
    n = rng.randint(5, 12)
    k = rng.randint(2, n - 3)
    ctx.update(n=str(n), k=str(k), k_wrong=str(k + 1), r=str(n - k))
    ctx.update(x=str(rng.choice([5, 8, 10, 12, 20, 25])), z=str(rng.randint(1, 6)),
               m=str(rng.choice([40, 55, 65, 80, 90, 110, 120, 140])), pct=str(rng.randint(22, 64)),
               h=str(rng.randint(2, 9)), nreq=str(rng.choice([60, 80, 120, 150, 200, 240])),
               req="req_" + "".join(rng.choice("0123456789abcdef") for _ in range(10)),
               rma=f"RA-{rng.randint(20000, 99999)}", card=str(rng.randint(1000, 9999)),
               vat=f"NL{rng.randint(100000000, 999999999)}B01",
               phone=f"07700 900{rng.randint(100, 999)}", inv=f"INV-2024-{rng.randint(1000, 9999)}")
    ctx["t19"] = str(19 * k)
    ctx["ticket"] = f"#{rng.randint(40000, 79999)}"
    ctx["billing"] = rng.choice(["accounts", "finance", "office", "admin"]) + "@" + re.sub(r"[^a-z]", "", ctx["company"].lower().split()[0]) + ".com"
    ctx["plan"], ctx["pp"] = rng.choice(PLANS)
    if prod in LIST_PRICE:
        ctx["list"] = LIST_PRICE[prod]
        ctx["wrong"] = str(int(LIST_PRICE[prod]) + rng.choice([10, 16, 20, 26]))
    if prod in FIRMWARE:
        ctx["fw"], ctx["fw_wrong"] = rng.sample(FIRMWARE[prod], 2)
    if prod in (R2, DM):
        other = DM if prod == R2 else R2
        ctx.update(O=other, ounits=UNIT[other][1])
    if t["ideas"]:
        idea, usecase, wish = rng.choice(t["ideas"][prod])
        ctx.update(idea=idea.replace("{P}", prod), usecase=usecase, wish=wish)
    if code:
        cprod, doc, status, meaning = CODES[code]
        others = [c for c in t["codes"][prod] if c != code] or [c for c, v in CODES.items() if v[0] == prod and c != code]
        others = [c for c in others if split == "test" or c not in TEST_ONLY_CODES]
        ctx.update(code=code, meaning=meaning, status=status or "", code_wrong=rng.choice(others))
        # the CG-4 status LED: solid red for a hardware fault, else "no connection to Fieldbook"
        ctx["led"] = "solid red" if code in ("G-340", "G-355") else "blinking amber"
    for flag, p in t["flags"].items():
        ctx[flag] = rng.random() < p
    for slot in ("k", "order", "code", "fw"):
        if slot in ctx:
            wrong = ctx.get("corr") and t["corrects"] == slot
            ctx[slot + "_said"] = ctx[slot + "_wrong"] if wrong else ctx[slot]
    return ctx


def fill(text, ctx, rng):
    def sub(m):
        key = m.group(1)
        if key == "p":
            return rng.choice(P_ALIAS[ctx["P"]])
        if key not in ctx:
            raise KeyError(f"unknown slot {{{key}}} in {text!r}")
        return str(ctx[key])
    out = SLOT_RE.sub(sub, text)
    if "{" in out:
        raise ValueError(f"slots nested too deep: {text!r}")
    return out


def expand(items, ctx):
    """Flatten IF blocks into a list of (speaker, alternatives)."""
    out = []
    for it in items:
        if it[0] == "if":
            out += expand(it[2] if ctx.get(it[1]) else it[3], ctx)
        else:
            out.append(it)
    return out


def decorate(i, who, body, ctx, rng):
    """Greetings, introductions, small talk and sign-offs around a message body."""
    nl = lambda: "\n" if rng.random() < 0.8 else " "
    sents = n_sentences(body)
    pre, post = "", ""
    if who == "customer" and i == 0:
        if rng.random() < 0.75:
            pre = rng.choice(GREET_C) + nl()
        if rng.random() < 0.25 and sents < 4:
            body = rng.choice(SMALL_C) + " " + body
            sents += 1
        has_name, has_company = _has_name(ctx["name"], body), ctx["company"] in body
        if rng.random() < 0.5 and sents < 4:
            body = body + " " + rng.choice(FILLER_C)
            sents += 1
        if not has_company and sents < 4 and rng.random() < 0.5:
            intro = rng.choice([s for s in INTRO if "{name}" in s] if rng.random() < 0.5 else INTRO)
            body = fill(intro, ctx, rng) + " " + body
            has_name, has_company = _has_name(ctx["name"], body), True
        if not has_company:
            post = nl() + fill(rng.choice(SIGN_C_FULL), ctx, rng)
        elif not has_name or rng.random() < 0.6:
            post = nl() + fill(rng.choice(SIGN_C), ctx, rng)
    elif who == "customer":
        if ctx["agent_known"] and rng.random() < 0.5:
            pre = f"Hi {ctx['agent']}," + nl()
        if rng.random() < 0.35 and sents < 4 and not body.startswith(("Thanks", "Sorry")):
            body = rng.choice(LATER_C) + " " + body
            sents += 1
        if rng.random() < 0.25 and sents < 4:
            body = body + " " + rng.choice(LATER_FILLER_C)
        if rng.random() < 0.4:
            post = nl() + fill(rng.choice(SIGN_C), ctx, rng)
    else:
        if rng.random() < (0.85 if i == 1 else 0.5):
            pre = fill(rng.choice(GREET_S), ctx, rng) + nl()
        if i == 1 and rng.random() < 0.4 and sents < 4 and not body.startswith(("Thanks", "Sorry")):
            body = fill(rng.choice(OPEN_S), ctx, rng) + " " + body
            ctx["agent_known"] = ctx["agent_known"] or ctx["agent"] in body
            sents += 1
        if rng.random() < 0.35 and sents < 4:
            filler = rng.choice([f for f in FILLER_S if "{ticket}" not in f or not ctx["ticket_given"]])
            ctx["ticket_given"] = ctx["ticket_given"] or "{ticket}" in filler
            body = body + " " + fill(filler, ctx, rng)
        if rng.random() < 0.55:
            post = nl() + fill(rng.choice(SIGN_S), ctx, rng)
            ctx["agent_known"] = True
    return pre + body + post


def render(t, prod, code, rng, split):
    ctx = make_ctx(t, prod, code, rng, split)
    ctx["agent_known"] = ctx["ticket_given"] = False
    end = rng.choices(t["ends"], weights=[e["w"] for e in t["ends"]])[0]
    turns = expand(t["turns"], ctx) + expand(end["msgs"], ctx)
    if turns[-1][0] == "support" and len(turns) <= 4 and rng.random() < P_SIDE:
        question, answer = rng.choice(SIDE)
        turns += [C(question), S(answer)]
    messages = []
    for i, (who, alts) in enumerate(turns):
        body = fill(rng.choice(_alts(alts, prod)), ctx, rng)
        messages.append({"from": who, "text": decorate(i, who, body, ctx, rng)})
    note = "\n".join([f"Customer: {ctx['name']} at {ctx['company']}, {prod}",
                      "Issue: " + fill(rng.choice(t["issue"]), ctx, rng),
                      "Next step: " + fill(rng.choice(end["next"]), ctx, rng)])
    wrong = None
    if ctx.get("corr"):
        value = ctx[t["corrects"] + "_wrong"]
        if t["corrects"] == "k":     # a bare count: forbid it only where it would count the devices
            forbidden = [f"{value} of", f"{value} {ctx['units']}", f"{value} replacement", f"{value} affected"]
        else:
            forbidden = [value]
        wrong = (value, forbidden)
    return messages, note, wrong


# ---------------------------------------------------------------------------------------------
def _row_of(doc_text, code):
    rows = [ln for ln in doc_text.splitlines() if ln.startswith("|") and (f"| {code} |" in ln or f"`{code}`" in ln)]
    return rows[0] if len(rows) == 1 else None


def check_row(row, wrong, docs):
    """Problems with one row (empty list: fine)."""
    probs = []
    msgs, note, code = row["messages"], row["note"], row["error_code"]
    thread = "\n".join(m["text"] for m in msgs)
    # shape of the thread
    if not 3 <= len(msgs) <= 6:
        probs.append(f"{len(msgs)} messages")
    for i, m in enumerate(msgs):
        if m["from"] != ("customer", "support")[i % 2]:
            probs.append(f"message {i} is from {m['from']}")
        if not 1 <= n_sentences(m["text"]) <= 4:
            probs.append(f"message {i} has {n_sentences(m['text'])} sentences")
        if "{" in m["text"] or "}" in m["text"]:
            probs.append(f"unfilled slot in message {i}")
    if not WORDS[0] <= n_words(msgs) <= WORDS[1]:
        probs.append(f"{n_words(msgs)} words")
    # the note: three lines, fixed prefixes, one sentence each for Issue and Next step
    lines = note.split("\n")
    prefixes = ("Customer: ", "Issue: ", "Next step: ")
    if len(lines) != 3 or not all(ln.startswith(p) for ln, p in zip(lines, prefixes)):
        return probs + [f"note format: {note!r}"]
    m = re.fullmatch(r"Customer: (\w+) at (.+), (.+)", lines[0])
    if not m or m.group(3) != row["product"]:
        probs.append(f"customer line {lines[0]!r}")
    elif not _has_name(m.group(1), thread) or m.group(2) not in thread:
        probs.append("customer name or company not in the thread")
    for ln in lines[1:]:
        if n_sentences(ln) != 1 or not ln.endswith(".") or "{" in ln:
            probs.append(f"not one sentence: {ln!r}")
    if row["product"] not in thread:
        probs.append("product name not in the thread")
    # faithfulness: everything in the note but the code's meaning occurs in the thread
    rest = note
    if code:
        prod, doc, status, meaning = CODES[code]
        if f"{code} ({meaning}" not in note:
            probs.append("note lacks the code with its meaning")
        if meaning.lower() in thread.lower():
            probs.append("the thread states the code's meaning")
        if code not in thread:
            probs.append("code not in the thread")
        if prod != row["product"] or row["doc_ids"] != [doc] or not row["needs_documents"]:
            probs.append("code, product, doc_ids or needs_documents disagree")
        table_row = _row_of(docs[doc], code)
        if table_row is None or meaning.lower() not in table_row.replace("`", "").lower() or (
                status and f"| {status} |" not in table_row):
            probs.append(f"{code} / {meaning!r} not in one table row of {doc}.md")
        rest = note.replace(meaning, " ")
    elif row["doc_ids"] or row["needs_documents"]:
        probs.append("doc_ids or needs_documents set without a code")
    thread_nums = set(NUM_RE.findall(thread))
    for pattern, what in ((NUM_RE, "number"), (ORDER_RE, "order number"), (CODE_RE, "error code")):
        for tok in pattern.findall(rest):
            if (tok not in thread_nums) if what == "number" else (tok not in thread):
                probs.append(f"{what} {tok} of the note not in the thread")
    for prod in PRODUCTS:
        if prod in rest and prod not in thread:
            probs.append(f"product {prod} of the note not in the thread")
    if wrong is not None:
        value, forbidden = wrong
        if value not in thread or any(re.search(rf"(?<![\w.-]){re.escape(f)}(?![\w-])", note) for f in forbidden):
            probs.append(f"correction: {value!r} must occur in the thread but not in the note")
    return probs


def build(split, rng, seen):
    tpls = [t for t in TEMPLATES if t["split"] == split]
    kinds = ["code"] * N_CODE[split] + ["plain"] * (N_ROWS[split] - N_CODE[split])
    rng.shuffle(kinds)
    cycles = {"code": [], "plain": []}
    prod_used, code_used = Counter(), Counter()
    rows = []
    for kind in kinds:
        if not cycles[kind]:
            cycles[kind] = [t for t in tpls if (t["codes"] is not None) == (kind == "code")]
            rng.shuffle(cycles[kind])
        t = cycles[kind].pop()
        prods = [p for p in t["prods"] if t["codes"] is None or t["codes"].get(p)]
        prod = min(prods, key=lambda p: (prod_used[(t["id"], p)], rng.random()))
        code = None
        if t["codes"] is not None:
            allowed = [c for c in t["codes"][prod] if split == "test" or c not in TEST_ONLY_CODES]
            code = min(allowed, key=lambda c: (code_used[c], rng.random()))
        for _ in range(300):
            messages, note, wrong = render(t, prod, code, rng, split)
            key = tuple(m["text"] for m in messages)
            if (WORDS[0] <= n_words(messages) <= WORDS[1] and key not in seen
                    and all(1 <= n_sentences(m["text"]) <= 4 for m in messages)):
                break
        else:
            raise RuntimeError(f"template {t['id']}: no thread of {WORDS[0]}-{WORDS[1]} words after 300 tries")
        seen.add(key)
        prod_used[(t["id"], prod)] += 1
        if code:
            code_used[code] += 1
        row = {"id": None, "template": t["id"], "messages": messages, "note": note, "product": prod,
               "error_code": code, "doc_ids": [CODES[code][1]] if code else [], "needs_documents": code is not None}
        rows.append((row, wrong))
    for i, (row, _) in enumerate(rows, 1):
        row["id"] = f"th-{split}-{i:03d}"
    return rows


def check_all(splits, docs):
    problems = []
    ids = [r["id"] for rows in splits.values() for r, _ in rows]
    if len(ids) != len(set(ids)):
        problems.append("duplicate ids")
    split_of = defaultdict(set)
    for split, rows in splits.items():
        for r, _ in rows:
            split_of[r["template"]].add(split)
        if len(rows) != N_ROWS[split]:
            problems.append(f"{split}: {len(rows)} rows")
    problems += [f"template {t} in splits {sorted(s)}" for t, s in split_of.items() if len(s) > 1]
    problems += [f"template {t['id']} declared {t['split']} but used elsewhere"
                 for t in TEMPLATES if split_of.get(t["id"], {t["split"]}) != {t["split"]}]
    if len({t["id"] for t in TEMPLATES}) != len(TEMPLATES):
        problems.append("duplicate template ids")
    for split, rows in splits.items():
        for r, wrong in rows:
            problems += [f"{r['id']} ({r['template']}): {p}" for p in check_row(r, wrong, docs)]
        if split != "test":
            leaked = {r["error_code"] for r, _ in rows} & TEST_ONLY_CODES
            problems += [f"{split}: test-only code {c}" for c in sorted(leaked)]
    if problems:
        raise ValueError("thread checks failed:\n  " + "\n  ".join(problems))


def main():
    docs = {p.stem: p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))}
    rng = random.Random(SEED)
    seen: set = set()
    splits = {s: build(s, rng, seen) for s in SPLITS}
    check_all(splits, docs)
    OUT.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with open(OUT / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for row, _ in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    groups = sorted({t["group"] for t in TEMPLATES})
    print("templates per group (train / validation / test):")
    for g in groups:
        print(f"  {g:16s} " + " / ".join(f"{sum(t['group'] == g and t['split'] == s for t in TEMPLATES):2d}" for s in SPLITS))
    print("threads per group:")
    for g in groups:
        tg = {t["id"] for t in TEMPLATES if t["group"] == g}
        print(f"  {g:16s} " + "  ".join(f"{s}={sum(r['template'] in tg for r, _ in splits[s]):3d}" for s in SPLITS))
    for s in SPLITS:
        rows = [r for r, _ in splits[s]]
        words = [n_words(r["messages"]) for r in rows]
        n_code = sum(r["needs_documents"] for r in rows)
        print(f"{s}: {len(rows)} threads from {len({r['template'] for r in rows})} templates, "
              f"{n_code} with an error code ({100 * n_code / len(rows):.0f} %), "
              f"words mean {sum(words) / len(words):.0f} min {min(words)} max {max(words)}, "
              f"messages " + " ".join(f"{k}:{v}" for k, v in sorted(Counter(len(r['messages']) for r in rows).items())))
        print("  codes: " + " ".join(f"{c}={n}" for c, n in sorted(Counter(r["error_code"] for r in rows if r["error_code"]).items())))
    print(f"wrote {sum(N_ROWS.values())} threads to {OUT}")


if __name__ == "__main__":
    main()
