"""Generate the ticket-triage ("behaviour") task: ragft/data/tickets/{train,test}.jsonl.

Each ticket is a short customer-support message to Fernhollow Instruments with the record a
triage model should produce: {"category": ..., "priority": ..., "product": ...}. The labelling
guide is ragft/data/tickets/README.md; every template below was written to obey it.

Tickets are built from hand-written templates with slots. Each template fixes the category;
its product comes from the template's list of products and its priority from a per-priority
impact sentence, so the label always follows from the words of the ticket. Templates marked
"test" are used only for the test split, so the test set measures whether a model generalises
to wordings it never saw in training.

Deterministic (random.Random(SEED), standard library only): running it twice writes
byte-identical files. Usage, from the repository root:  python tools/make_tickets.py
"""
from __future__ import annotations

import json
import re
import random
from collections import Counter
from pathlib import Path

SEED = 20240517
N_TRAIN, N_TEST = 200, 60
OUT = Path(__file__).resolve().parents[1] / "ragft" / "data" / "tickets"

CATEGORIES = ("billing", "shipping", "hardware_fault", "connectivity", "account_access", "feature_request")
PRIORITIES = ("low", "normal", "high", "urgent")
R2, DM, CG, IV = "Rootline R2", "Dewpoint Mini", "Canopy Gateway CG-4", "Irrigo V3"
FB, RA, NONE = "Fieldbook", "Relay API", "none"
PRODUCTS = (R2, DM, CG, IV, FB, RA, NONE)
HW = [R2, DM, CG, IV]

# ---------------------------------------------------------------------------------------------
# How each product may be named in a ticket (the alias table of the README).
#   p  : a noun phrase with its article ("the soil probe"); P is the same, capitalised
#   pn : the bare name ("Rootline R2"), pl : a plural ("soil probes")
ALIASES = {
    R2: dict(
        p=["the Rootline R2", "our Rootline R2", "the R2 probe", "the soil probe", "our R2",
           "the Rootline probe", "the moisture probe", "our Rootline R2 soil probe"],
        pn=["Rootline R2", "R2", "Rootline R2 probe", "Rootline"],
        pl=["Rootline R2 probes", "R2 probes", "soil probes", "Rootline probes", "R2s"],
    ),
    DM: dict(
        p=["the Dewpoint Mini", "our Dewpoint Mini", "the Dewpoint", "the climate sensor",
           "our Dewpoint sensor", "the humidity sensor", "our Dewpoint Mini climate sensor"],
        pn=["Dewpoint Mini", "Dewpoint"],
        pl=["Dewpoint Minis", "Dewpoint sensors", "climate sensors", "Dewpoint Mini sensors"],
    ),
    CG: dict(
        p=["the Canopy Gateway CG-4", "our CG-4", "the CG-4 gateway", "the gateway",
           "our Canopy gateway", "the CG-4"],
        pn=["CG-4", "Canopy Gateway CG-4", "Canopy gateway", "CG-4 gateway"],
        pl=["CG-4 gateways", "Canopy gateways", "CG-4s", "Canopy Gateway CG-4 units"],
    ),
    IV: dict(
        p=["the Irrigo V3", "our Irrigo", "the valve controller", "the irrigation controller",
           "our Irrigo V3 controller", "the Irrigo"],
        pn=["Irrigo V3", "Irrigo", "Irrigo V3 controller"],
        pl=["Irrigo V3 controllers", "Irrigo controllers", "valve controllers", "Irrigo V3 units"],
    ),
    FB: dict(
        p=["Fieldbook", "the Fieldbook web app", "the web app", "the Fieldbook dashboard", "Fieldbook"],
        pn=["Fieldbook"],
        pl=["Fieldbook accounts"],
    ),
    RA: dict(
        p=["the Relay API", "Relay API", "your API", "the API", "your REST API", "the Relay REST API"],
        pn=["Relay API"],
        pl=["Relay API keys"],
    ),
}

# ---------------------------------------------------------------------------------------------
# Generic slot fillers (shared by all templates).
FARMS = [
    "Hollowmere Farm", "Brackenridge Greenhouses", "Saltmarsh Orchard", "Wrenfield Nursery",
    "Kettle Lane Growers", "Tidewater Vertical Farms", "Oakshott Orchard", "Greywater Glasshouses",
    "Millbrook Market Garden", "Sorrel Hill Farm", "Lantern Bay Greens", "Upper Fenwick Orchard",
    "Copperleaf Hydroponics", "Marram Point Nursery", "Ashby Glasshouses", "Thistledown Farm",
    "Elsin Valley Growers", "Quarry Field Herbs", "Blackwater Tunnels", "Pennock's Orchard",
    "Harrow End Salads", "Nettlebed Microgreens",
]
NAMES_F = ["Maja", "Priya", "Aoife", "Lena", "Sanne", "Ruth", "Noor", "Ines", "Yuki", "Bea",
           "Grace", "Tove", "Hannah", "Marta", "Keziah", "Elif", "Joanna", "Rosa"]
NAMES_M = ["Tom", "Jonas", "Kwame", "Marco", "Dmitri", "Felix", "Hamid", "Callum", "Oskar",
           "Pieter", "Rhys", "Luis", "Bram", "Anil", "Sean", "Mateusz", "Gideon", "Olu"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
SLOTS = {
    "zone": ["greenhouse 2", "house 4", "tunnel B", "the north block", "bay 7", "glasshouse 3",
             "the propagation house", "the east tunnel", "block C", "the seedling room",
             "polytunnel 5", "the top orchard", "house 1", "the back tunnel", "row 12"],
    "crop": ["tomatoes", "lettuces", "strawberries", "cucumbers", "peppers", "seedlings",
             "basil plants", "young apple trees", "microgreens", "chillies", "spinach plants",
             "pear saplings", "herbs", "courgettes", "aubergines"],
    "time": ["6am", "5:30 this morning", "02:40", "midnight", "7:15", "around 4am",
             "half past six", "03:10", "about 8 last night", "10pm"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    "colour": ["orange", "red", "white", "amber", "blue", "purple"],
    "country": ["Ireland", "Portugal", "Norway", "Belgium", "Denmark", "Austria", "Poland",
                "Scotland", "Slovenia", "Iceland"],
    "addr": ["Unit 4, Gullet Lane", "12 Reedbank Road", "the old dairy on Cold Harbour Lane",
             "Plot 9, Saltings Industrial Estate", "3 Tanner's Row", "Fold Farm, Brine Hill"],
    "third": ["Google Sheets", "Xero", "Home Assistant", "Slack", "Microsoft Teams", "Zapier",
              "Node-RED", "Power BI"],
    "month": MONTHS,
}

GREETINGS = ["Hi,", "Hello,", "Hi there,", "Hi team,", "Good morning,", "Dear support,",
             "Hello Fernhollow,", "Hey,", "Morning,", "Dear Fernhollow team,", "Hi all,",
             "Good afternoon,", "hello,"]
SIGNOFFS = ["Thanks, {name}", "Thanks, {name} ({farm})", "Regards, {name}", "Cheers, {name}",
            "- {name}, {farm}", "Best, {name}", "Kind regards, {name}, {farm}", "Ta, {name}",
            "{name}", "Thank you! {name}", "Many thanks, {name} at {farm}", "{name} / {farm}",
            "Best wishes, {name}", "thx {name}"]

# A first sentence some customers add; it never changes the label.
OPENERS = ["This is {name} from {farm}.", "Writing on behalf of {farm}.",
           "We're a small grower just outside Port Elsin.", "We've been customers for about {n} years.",
           "I manage the glasshouses at {farm}.", "Quick one from {farm}."]

# Spelling slips a hurried customer makes (only in words that never decide a label).
TYPOS = [("received", "recieved"), ("the ", "teh "), ("since", "sinse"), ("because", "becuase"),
         ("which", "wich"), ("week", "weeek"), ("until", "untill"), ("tomorrow", "tommorow"),
         ("already", "allready"), ("anything", "anythign"), ("please", "pls"), ("Please", "Pls"),
         ("would", "woudl"), ("thought", "thougth"), ("doesn't", "doesnt"), ("can't", "cant"),
         ("won't", "wont"), ("I'm", "im"), ("there", "ther"), ("really", "realy"),
         ("morning", "mornign"), ("again", "agian"), ("different", "diffrent"), ("just", "jsut")]

# ---------------------------------------------------------------------------------------------
# Priority phrases shared by several templates (train and test wordings kept apart).
LOW_TR = ["No rush on this.", "No rush at all, whenever you have time.", "Not urgent, just wanted to flag it.",
          "Whenever you have a moment is fine.", "No hurry."]
LOW_TE = ["Take your time with this one.", "Nothing pressing, reply whenever suits.",
          "Low priority on our side, honestly."]

# ---------------------------------------------------------------------------------------------
TEMPLATES: list[dict] = []


def T(tid, cat, split, prods, body, imp, v=None):
    """Register a template. imp: priority -> phrases, or priority -> {product or '*': phrases}."""
    TEMPLATES.append(dict(id=tid, cat=cat, split=split, prods=list(prods), body=body, imp=imp, v=v or {}))


def by(default=None, **kw):
    """A per-product phrase table; keys are product constants (see PK)."""
    d = {PK[k]: val for k, val in kw.items()}
    if default is not None:
        d["*"] = default
    return d


PK = dict(R2=R2, DM=DM, CG=CG, IV=IV, FB=FB, RA=RA, NONE=NONE)
HWPL = by(default=[" ({n} {pl})", " for {n} {pl}", " ({n} x {pn})"], NONE=[""])

# ================================ billing ====================================================
T("B01", "billing", "train", [NONE],
  "We've been charged twice for invoice {inv}: two payments of {eur} EUR left our account on {date}. {imp}",
  dict(high=["Please refund one of them.", "Can you reverse the duplicate as soon as possible?",
             "I'd like the second payment refunded, please."]))
T("B02", "billing", "train", [FB],
  "Our {pn} subscription renewed at a higher price than the quote we signed - about {n} EUR a month more. {imp}",
  dict(high=["The money has already gone out, so please refund the difference.",
             "Please correct it and pay back what we were overcharged."]))
T("B03", "billing", "train", [NONE],
  "Could you send me a copy of invoice {inv} with our VAT number on it? Our accountant needs it for the quarterly return. {imp}",
  dict(normal=["", "Thanks in advance."], low=["No rush, the deadline is in {month}.", "No hurry at all."]))
T("B04", "billing", "train", [RA],
  "Invoice {inv} includes an overage charge of {eur} EUR for {pn} requests, yet our usage page shows we stayed well under the monthly limit. {imp}",
  dict(high=["It was taken by direct debit already, so we want that money back.",
             "The charge has already gone through - please refund it."]))
T("B05", "billing", "train", [FB, RA],
  "We're about to add a second site. How is {pn} priced for more than one location - per site, per user or per device? {imp}",
  dict(normal=["", "A rough idea is fine."], low=["Not urgent, we're planning for next year.", "No hurry, just budgeting ahead."]))
T("B06", "billing", "train", HW,
  "Could you send us a quote for {n} more {pl}, delivered to {farm}? {imp}",
  dict(normal=["We'd like to order before the season starts.", "We need the figure for a budget meeting on {day}."],
       low=["No rush, sometime this month is fine."]))
T("B07", "billing", "train", [NONE],
  "We've switched banks. How do I update the card details on our customer account before the next invoice is taken? {imp}",
  dict(normal=["", "The old card stops working on {date}."]))
T("B08", "billing", "train", [FB],
  "We cancelled our {pn} subscription on {date} and got a confirmation email, but {eur} EUR was still taken this month. {imp}",
  dict(high=["Please refund it.", "I expect a refund, and I'd like to know how this happened."]))
T("B09", "billing", "train", [NONE],
  "Small thing: our name has been spelled \"{farmtypo}\" instead of {farm} on the last few invoices. {imp}",
  dict(low=["No rush at all, fix it whenever you can.", "Not urgent, just tidy it up when you have a moment."]))
T("B10", "billing", "train", [NONE, R2, DM, IV],
  "We sent back {what} on {date} and you confirmed receipt, but the refund still hasn't reached us. {imp}",
  dict(high=["That was {n2} weeks ago.", "It's been over a month now - please chase it.", "Please check what's holding it up."]),
  v=dict(what=by(default=["{n} {pl} from order {order}", "the {pl} from order {order}"],
                 NONE=["order {order}", "the parcel from order {order}", "everything from order {order}"])))
T("B11", "billing", "train", [FB],
  "Our {pn} account was suspended this morning for an unpaid invoice, but we paid {inv} on {date} and have the bank receipt. {imp}",
  dict(urgent=["Every dashboard and alert across our greenhouses is dead, with frost forecast tonight.",
               "All our alerts are off and the {crop} are in a heatwave today - we need it back now."],
       high=["We can still check things on site for now, but please reinstate it.",
             "We're coping for today, but please switch it back on."]))
T("B12", "billing", "train", [NONE],
  "Is it possible to pay our invoices by bank transfer instead of card? It would make our bookkeeping easier. {imp}",
  dict(normal=["", "Our order numbers start with {order} if that helps."], low=["No urgency, whenever you can reply."]))
# -- test only
T("BT1", "billing", "test", [NONE],
  "Invoice {inv} for {eur} EUR was for an order we cancelled the same day, and the money has already been debited. {imp}",
  dict(high=["We'd like it back as soon as possible.", "Please return it to our account."]))
T("BT2", "billing", "test", [FB, RA],
  "Our finance team needs every {pn} invoice from last year as PDF files. Can you send them, or point me to where I can download them? {imp}",
  dict(normal=["", "The auditors come on {day}."], low=["Take your time, we only close the books in {month}."]))
T("BT3", "billing", "test", HW,
  "We run a school garden project and are looking at buying {n} {pl}. Is there an education discount? {imp}",
  dict(normal=["", "It would make a big difference to our budget."], low=["Nothing pressing - we're planning for next year."]))
T("BT4", "billing", "test", [FB],
  "Your system has marked us as overdue and switched off our {pn} account, although the bank confirms invoice {inv} was paid. {imp}",
  dict(urgent=["The whole farm's monitoring is dark and the {crop} need their watering times changed within the hour.",
               "Nothing at {farm} is visible any more and tonight's frost alarm lives in there."],
       high=["Not a disaster today - someone can walk round and check - but please switch it back on."]))

# ================================ shipping ===================================================
T("S01", "shipping", "train", [NONE] + HW,
  "Any update on order {order}{what}? It was placed on {date} and the tracking hasn't changed since {day}. {imp}",
  dict(normal=["", "Just want to know when to expect it."], low=["No rush, we won't need it until next month."]),
  v=dict(what=HWPL))
T("S02", "shipping", "train", [NONE] + HW,
  "Tracking for order {order}{what} says delivered on {date}, but nothing arrived at {farm} and there's no note from the driver. {imp}",
  dict(high=["We've asked the neighbours. Please look into it or send it again.",
             "Can you open a claim with the courier and resend?"]),
  v=dict(what=HWPL))
T("S03", "shipping", "train", HW,
  "The {pn} from order {order} arrived with the box crushed and {dmg}. {imp}",
  dict(high=["We haven't installed it. Please send a replacement.", "Photos attached - how do we get a new one?"]),
  v=dict(dmg=by(R2=["the probe spike bent", "the spike snapped off"],
                DM=["its housing cracked in two", "the mounting clip broken off"],
                CG=["the antenna snapped off", "the housing split open"],
                IV=["the connector block snapped", "the front panel cracked"])))
T("S04", "shipping", "train", [NONE] + HW,
  "Order {order}{what} came today. The outer box was badly dented, but everything inside looks fine. {imp}",
  dict(low=["Just letting you know for your courier, no rush.", "Not urgent, just thought you should know."]),
  v=dict(what=HWPL))
T("S05", "shipping", "train", HW,
  "We ordered {n} {pl} on order {order} but the box only had {n2} in it. {imp}",
  dict(high=["The packing slip lists all {n}. Please send the missing ones.", "We need the rest to finish the install."]))
T("S06", "shipping", "train", [NONE] + HW,
  "Can you change the delivery address for order {order}{what}? Please send it to our packing shed at {addr} instead. {imp}",
  dict(normal=["", "It hasn't shipped yet as far as I can see."]),
  v=dict(what=HWPL))
T("S07", "shipping", "train", HW,
  "Our {pn} broke last week and the replacement (order {order}) has been stuck at the courier depot for {n} days. {imp}",
  dict(urgent=by(IV=["Without it {zone} gets no water and the {crop} are already drooping."],
                 CG=["Until it arrives our whole site is offline and we can't see a single reading."],
                 R2=["That probe drives the watering in {zone}, which has been off since, and the {crop} are wilting."],
                 DM=["The vents in {zone} run off it, and it's 35 degrees in there today with the {crop} flagging."]),
       high=["We've borrowed a spare for now, but we do need it this week.", "We're managing by hand in the meantime."]))
T("S08", "shipping", "train", [NONE] + HW,
  "Do you ship {what}to {country}? And roughly how long does delivery take? {imp}",
  dict(normal=["", "We're opening a second farm there."], low=["No hurry, just planning ahead."]),
  v=dict(what=by(default=["{pl} "], NONE=[""])))
T("S09", "shipping", "train", [NONE] + HW,
  "I'd like to send back {what} from order {order}, we ordered too many. How do I get a return label? {imp}",
  dict(normal=["", "They're unopened."], low=["No rush, whenever you can."]),
  v=dict(what=by(default=["{n2} {pl}", "two of the {pl}"], NONE=["a few items", "part of the order", "some items"])))
T("S10", "shipping", "train", [NONE] + HW,
  "This is the second time I'm asking: order {order}{what} has been 'in transit' for {n} days. When will it actually arrive? {imp}",
  dict(normal=["", "A straight answer would be nice."]),
  v=dict(what=HWPL))
T("S11", "shipping", "train", [NONE],
  "Whenever you get a chance, could you email the delivery note for order {order}? The paper copy got soaked in the rain. {imp}",
  dict(low=["", "Thanks!"]))
T("S12", "shipping", "train", [NONE] + HW,
  "Your courier delivered our order {order}{what} to {farm2} down the road, and they say the driver already took it away again. {imp}",
  dict(high=["Can you find out where it is now?", "We need those parts, please sort it out."]),
  v=dict(what=HWPL))
# -- test only
T("ST1", "shipping", "test", [NONE] + HW,
  "When will {what} ship? The confirmation said dispatch within ten days and it's been twelve. {imp}",
  dict(normal=["", "A date would help us plan."], low=["Take your time, we're not installing until autumn."]),
  v=dict(what=by(default=["the backordered {pl} on order {order}"], NONE=["the backordered items on {order}"])))
T("ST2", "shipping", "test", HW,
  "Opened the parcel from order {order} this morning: the carton had a hole in it and the {pn} inside has a split casing. {imp}",
  dict(high=["It hasn't been switched on. What's the quickest way to get it swapped?", "Can you send a new one out?"]))
T("ST3", "shipping", "test", HW,
  "Our {pn} died on {day}, so we ordered an express replacement (order {order}), and now the courier says it won't come until next week. {imp}",
  dict(urgent=by(IV=["No valves open in {zone} without it and the {crop} can't wait a week."],
                 CG=["Nothing on the site reports without it, we're completely in the dark."],
                 R2=["That probe schedules the watering in {zone} and the {crop} are already bone dry."],
                 DM=["It runs the misting in {zone}, which is at 36 degrees right now."]),
       high=["A neighbour lent us one, but we can't keep it for long.", "We can get by manually for a few days, but no longer."]))
T("ST4", "shipping", "test", [NONE],
  "Small request, no urgency: your courier keeps leaving our parcels at the front gate of {farm} instead of the shed. Could you add a delivery note to our account? {imp}",
  dict(low=["", "Thanks."]))

# ================================ hardware_fault =============================================
T("H01", "hardware_fault", "train", [IV],
  "Valve {v} on {p} is stuck open and won't close, not even with the manual override. {imp}",
  dict(urgent=["Water has been pouring into {zone} since {time} and the beds are flooding.",
               "It's been running since {time}, {zone} is flooded and the {crop} are standing in water."],
       high=["We've shut the main tap by hand and are watering that zone with a hose for now."]))
T("H02", "hardware_fault", "train", [R2],
  "{P} in {zone} reads {low}% moisture even straight after watering. {imp}",
  dict(urgent=["The watering keys off this probe, so it's been running nonstop and the {crop} are sitting in water."],
       high=["We've taken it out of the watering schedule and are checking that bed by hand.",
             "We've switched that bed to a fixed timer until it's sorted."]))
T("H03", "hardware_fault", "train", [DM],
  "{P} in {zone} says {t}°C while the thermometer hanging next to it shows {t2}°C. {imp}",
  dict(urgent=["The vents open off its reading, so they've stayed shut and the {crop} are cooking as we speak.",
               "Our cooling runs off it and hasn't kicked in; the {crop} are wilting right now."],
       high=["We've put the vents on manual until it's sorted.", "We're reading the thermometer by hand for now."]))
T("H04", "hardware_fault", "train", HW,
  "{P} won't power on any more - no lights at all, {fix}. {imp}",
  dict(urgent=by(CG=["Every sensor on the site goes through it, so we have no readings from anywhere."],
                 IV=["None of the valves in {zone} will open and the {crop} have had no water today."]),
       high=by(CG=["Our second gateway is picking up most sensors for now, but we need this one back."],
               default=["The rest of the site is fine, but we need it working again.",
                        "We're working around it by hand for now."])),
  v=dict(fix=by(R2=["even with fresh batteries"], DM=["even with fresh batteries"],
                CG=["and a different power supply made no difference"],
                IV=["and a different power supply made no difference"])))
T("H05", "hardware_fault", "train", HW,
  "The label on {p} has faded and started peeling after a summer in the sun. {imp}",
  dict(low=["It still works perfectly - purely cosmetic, no rush.",
            "Nothing wrong with how it works, so no rush at all."]))
T("H06", "hardware_fault", "train", [R2, DM],
  "The battery in {p} in {zone} goes flat after {n} days now, where it used to last months. {imp}",
  dict(high=["We're swapping batteries every week to keep it going.", "We can keep replacing them for now, but it's not sustainable."]))
T("H07", "hardware_fault", "train", [CG],
  "{P} keeps rebooting every few minutes since {time}; the status light cycles red, then green. {imp}",
  dict(urgent=["While it restarts none of the sensors report, so we're blind across every greenhouse."],
       high=["Data gets through in bursts between restarts, so we're coping for now."]))
T("H08", "hardware_fault", "train", HW,
  "Since last night's firmware update, {p} is stuck with a blinking {colour} light and ignores the reset button. {imp}",
  dict(urgent=by(IV=["The watering for {zone} didn't run this morning and the {crop} are drying out."],
                 CG=["Nothing from any of our sensors is coming through, anywhere on the site."]),
       high=["We can manage without it for a day or two.", "It's only the one unit, so we're managing."]))
T("H09", "hardware_fault", "train", [IV],
  "{P} is opening the wrong valves: zone {a} waters when zone {b} is scheduled. {imp}",
  dict(urgent=["The {crop} in zone {b} have had nothing for two days in this heat."],
       high=["We've paused the schedule and are opening valves by hand for now."]))
T("H10", "hardware_fault", "train", [R2, DM],
  "{P} reads about {small} higher than our handheld meter. Is that within tolerance, or should we recalibrate it? {imp}",
  dict(normal=["", "Everything else looks fine."], low=["No rush, just curious."]),
  v=dict(small=by(R2=["3% moisture", "4 percentage points", "0.2 mS/cm of conductivity"],
                  DM=["1.5 degrees", "40 ppm of CO2", "5% humidity"])))
T("H11", "hardware_fault", "train", HW,
  "Just checking: {p} in {zone} gets quite warm to the touch in the afternoon sun. It works fine otherwise - is that expected, or should we shade it? {imp}",
  dict(normal=[""]))
T("H12", "hardware_fault", "train", HW,
  "The housing of {p} has cracked and there's condensation inside; {sym}. {imp}",
  dict(high=["We've unplugged it and put a spare in its place.", "We're keeping an eye on things by hand until we hear back."]),
  v=dict(sym=by(R2=["the readings have started jumping around"], DM=["the readings have started jumping around"],
                CG=["the power light flickers now and then"], IV=["the valves click on and off at random"])))
# -- test only
T("HT1", "hardware_fault", "test", [IV],
  "{P} doesn't stop when the cycle ends - {zone} just keeps watering until someone shuts it off at the tap. {imp}",
  dict(urgent=["The tunnel floor is a pond already and the roots of the {crop} will rot if this carries on."],
       high=["Someone is staying late to turn it off each evening, which works for now."]))
T("HT2", "hardware_fault", "test", [R2, DM],
  "{P} has been reporting exactly {val} for three days straight, even though the weather has changed a lot. {imp}",
  dict(high=["We're cross-checking with a handheld meter in the meantime.", "We've stopped trusting it and measure by hand for now."]),
  v=dict(val=by(R2=["41% moisture", "38.5% moisture"], DM=["22.0°C", "64% humidity"])))
T("HT3", "hardware_fault", "test", HW,
  "There's a burning smell coming from {p} and the casing is hot to the touch, so we've disconnected it. {imp}",
  dict(urgent=by(CG=["It's our only gateway, so nothing on the site reports now."],
                 IV=["Which means no valve on the farm opens, and it's 31 degrees today."]),
       high=["The other units cover for it for now.", "It isn't critical this week, but we need a replacement."]))
T("HT5", "hardware_fault", "test", HW,
  "Quick question about {p} at {farm}: it gives a short {colour} blink about once a minute. Readings look right - is that how it should behave? {imp}",
  dict(normal=["", "Couldn't find it in the manual."]))
T("HT4", "hardware_fault", "test", HW,
  "Not urgent at all - the rubber seal on {p} has gone a bit yellow. It works perfectly, it just looks tired. {imp}",
  dict(low=["", "Is that normal with age?"]))

# ================================ connectivity ===============================================
T("C01", "connectivity", "train", [R2, DM, IV],
  "{P} in {zone} has shown as offline in Fieldbook since {time}, although its light is still blinking green. {imp}",
  dict(high=by(IV=["It still runs its last schedule locally, so the plants are fine for now."],
               default=["The others are fine, so we're checking that spot by hand.",
                        "We're taking readings there manually for now."]),
       urgent=by(IV=["We can't start the extra watering the {crop} need in this heat, and they're wilting."])))
T("C02", "connectivity", "train", [CG],
  "{P} lost its internet connection at {time} and we've had nothing from any greenhouse since. {imp}",
  dict(urgent=["", "We can't see temperatures anywhere and it's meant to hit {t2} degrees today.",
               "Power and lights are on, it just won't connect."]))
T("C03", "connectivity", "train", [CG],
  "{P} keeps switching between ethernet and 4G a dozen times a day, and we lose a few minutes of data each time. {imp}",
  dict(high=["The gaps are messing up our reports.", "It's been going on since {date}."]))
T("C04", "connectivity", "train", [FB],
  "{P} won't load for us since {time} - just a spinning wheel, then a timeout. {imp}",
  dict(high=["It works on my phone's mobile data, so we're getting by.", "One of our laptops can still open it, oddly."],
       urgent=["Nobody at {farm} can see anything, and our frost alerts live in there with frost due tonight."]))
T("C05", "connectivity", "train", [RA],
  "Calls to {p} have been timing out after 30 seconds since {time}, mostly on the readings endpoint. {imp}",
  dict(high=["Our own reporting screen is stale, so staff are checking values by hand."],
       normal=["It only happens a couple of times an hour and a retry always works."]))
T("C06", "connectivity", "train", [R2, DM, IV],
  "How do I add a new {pn} to our network? The pairing steps in the manual don't match what I see. {imp}",
  dict(normal=["", "The light just blinks blue and nothing happens."], low=["No rush, it's a spare for next season."]))
T("C07", "connectivity", "train", HW,
  "{P} in {zone} drops offline for 10 to 20 minutes a few times a day, then the missing data fills back in. {imp}",
  dict(normal=["Is there anything we can do about the range?", "Should we move it somewhere else?"]))
T("C08", "connectivity", "train", [R2, DM, IV],
  "All our {pl} went offline at the same moment, {time} - every single one across the site. {imp}",
  dict(urgent=by(IV=["We can't control any of the watering and it's a scorcher today."],
                 default=["We have no readings from anywhere.", "Nothing is reporting at all and we're flying blind."])))
T("C09", "connectivity", "train", [FB, RA],
  "{lag} Is that expected, or is something wrong on your side? {imp}",
  dict(normal=["", "It started around {date}."], low=["No rush on the answer."]),
  v=dict(lag=by(FB=["New data shows up in {p} about {n} minutes late lately."],
                RA=["Webhooks from {p} arrive {n} minutes after the reading was taken."])))
T("C10", "connectivity", "train", [RA],
  "Our webhook endpoint has stopped receiving events from {p} since {date}; even test events never arrive. {imp}",
  dict(high=["We've switched to polling as a stopgap.", "We're polling every few minutes as a workaround."]))
T("C11", "connectivity", "train", HW,
  "Whenever you have time: {p} reconnects by itself a couple of times a week, always at night. No data is lost, I'm just curious why. {imp}",
  dict(low=[""]))
T("C12", "connectivity", "train", [IV],
  "{P} won't take the new schedule from Fieldbook - it just says 'waiting for sync' and never finishes. {imp}",
  dict(urgent=["The heatwave starts today and the {crop} need the new watering times now."],
       high=["It keeps running the old schedule, which is roughly OK for a few days."]))
# -- test only
T("CT1", "connectivity", "test", [CG],
  "Since the storm last night, {p} shows no uplink at all and we're getting zero readings from the whole site. {imp}",
  dict(urgent=["", "The {crop} in the tunnels are unmonitored on a hot day."]))
T("CT2", "connectivity", "test", [R2, DM, IV],
  "After we moved {p} to the far tunnel, it can't reach the network any more. {imp}",
  dict(high=["We've put it back near the shed for now, but it's needed out there.",
             "We've rigged up a temporary fix, but it's needed out there."]))
T("CT3", "connectivity", "test", [RA, FB],
  "Since your maintenance on {date}, {sym}. {imp}",
  dict(high=["Manual exports will tide us over for a day or two.", "We have a workaround for now, but it's clumsy."]),
  v=dict(sym=by(RA=["every request to {p} from our server ends in 'connection refused'"],
                FB=["{p} fails with 'connection reset' for everyone in our office"])))
T("CT5", "connectivity", "test", HW,
  "{P} in {zone} shows a weak signal icon most afternoons, but the data still comes through fine. Should we be worried about it? {imp}",
  dict(normal=["", "It's about 80 metres from the shed."]))
T("CT4", "connectivity", "test", HW,
  "No urgency on this: {p} sometimes takes a couple of minutes to reappear after {event}. It always comes back on its own. {imp}",
  dict(low=["", "Curious more than anything."]),
  v=dict(event=by(R2=["a battery change"], DM=["a battery change"], CG=["a power cut"], IV=["a power cut"])))

# ================================ account_access =============================================
T("A01", "account_access", "train", [FB],
  "I can't log in to {p} - it says 'invalid password' even after I reset it twice. {imp}",
  dict(high=["My colleague can still get in, so we're not stuck.", "I'm using a colleague's login for today."]))
T("A02", "account_access", "train", [FB],
  "How do I add our new grower, {fname}, as a user on {p}? {imp}",
  dict(normal=["", "She starts on {day}."], low=["No rush, she only starts next month."]))
T("A03", "account_access", "train", [FB],
  "I'm locked out of {p} after too many attempts, and I'm the only admin at {farm}. {imp}",
  dict(urgent=["Frost is forecast tonight and I need to change the alert thresholds now.",
               "The {crop} need their watering times changed before the heat peaks this afternoon."],
       high=["Nothing critical today, but please unlock it."]))
T("A04", "account_access", "train", [FB],
  "The password reset email for {p} never arrives - I've checked spam and tried twice. {imp}",
  dict(high=["I'm borrowing a colleague's login meanwhile.", "My manager can log in, so the farm is covered for now."]))
T("A05", "account_access", "train", [RA],
  "Our {pn} key has returned 401 Unauthorized since {date}, and we didn't change anything. {imp}",
  dict(high=["Our integration is down; we're copying numbers by hand until it's fixed."]))
T("A06", "account_access", "train", [RA],
  "How do I create a second {pn} key for our contractor, so we can revoke it when the job's done? {imp}",
  dict(normal=[""], low=["No rush."]))
T("A07", "account_access", "train", [FB],
  "Please change the login email on our {pn} account from {email1} to {email2}. {imp}",
  dict(normal=["", "The old address will be closed soon."]))
T("A08", "account_access", "train", [FB],
  "Two-factor codes are rejected every time I log in to {p}, and my phone's clock is correct. {imp}",
  dict(high=["I can still get in on my old laptop where I'm already logged in.", "A colleague is covering the alerts for now."]))
T("A09", "account_access", "train", [FB],
  "{fname} left the farm last week. Could you remove her access to {p}, or tell me how to do it? {imp}",
  dict(normal=["", "Thanks."]))
T("A10", "account_access", "train", [RA],
  "The {pn} token our watering scheduler uses has expired and I can't find where to renew it. {imp}",
  dict(urgent=["Nothing is pushing watering times now, and the {crop} need water this morning."],
       high=["We're setting the schedules by hand for now."]))
T("A11", "account_access", "train", [FB, RA],
  "Our admin account for {pn} is still under {mname}'s email, and he left in {month}. Could you move the admin rights to me? {imp}",
  dict(normal=[""], low=["No rush on this."]))
T("A12", "account_access", "train", [FB],
  "None of us at {farm} can log in to {p} since {time} - every account says 'account disabled'. {imp}",
  dict(urgent=["Our whole operation runs through it and we can't see a single reading.",
               "We can't see or change anything on the site."]))
# -- test only
T("AT1", "account_access", "test", [FB],
  "Since I changed phones I can't get past the two-step verification on {p}. {imp}",
  dict(urgent=["I'm the only one with access, and the watering times must change within the hour before the heat peaks."],
       high=["Someone else on the team can check the readings for now."]))
T("AT2", "account_access", "test", [RA],
  "Every call with our {pn} token now comes back 403 'scope not permitted', though it worked yesterday. {imp}",
  dict(high=["We've fallen back to a spreadsheet for now.", "We can export by hand meanwhile."]))
T("AT3", "account_access", "test", [FB],
  "How can I give our agronomist read-only access to {p}, so she can't change the alerts? {imp}",
  dict(normal=["", "She visits on {day}."]))
T("AT4", "account_access", "test", [FB, RA],
  "Nothing pressing, but I'd like the login for {pn} moved from my personal email to {email2}. {imp}",
  dict(low=["", "Thanks a lot."]))

# ================================ feature_request (always low) ===============================
FEAT = ["", "", "Just an idea.", "Thanks for considering it.", "Would love to see it."]
FEAT_TE = ["", "", "Keep up the good work.", "Food for thought."]
T("F01", "feature_request", "train", [FB],
  "Would be great if {p} could export charts as PDF for our monthly reports. {imp}", dict(low=FEAT))
T("F02", "feature_request", "train", [FB],
  "Please add a dark mode to {p}. Staring at it at 5am in the packing shed is rough. {imp}", dict(low=FEAT))
T("F03", "feature_request", "train", [RA],
  "Could {p} get a bulk endpoint for historic readings? Pulling a year of data page by page takes ages. {imp}", dict(low=FEAT))
T("F04", "feature_request", "train", [R2],
  "It would help a lot if {p} measured soil pH as well. Any plans for that? {imp}", dict(low=FEAT))
T("F05", "feature_request", "train", [DM],
  "Any chance of a {pn} version with a light (PAR) sensor? We'd buy a dozen for {farm}. {imp}", dict(low=FEAT))
T("F06", "feature_request", "train", [IV],
  "Could {p} get a rain-delay setting that skips watering when rain is forecast? {imp}", dict(low=FEAT))
T("F07", "feature_request", "train", [CG],
  "Suggestion: a solar panel option for {p}, so we can put one in the far orchard without running power. {imp}", dict(low=FEAT))
T("F08", "feature_request", "train", HW,
  "Feature idea for {p}: {idea}. {imp}", dict(low=FEAT),
  v=dict(idea=by(R2=["a longer cable option for deep beds", "a version that also measures nitrate"],
                 DM=["a magnetic mount so we can move it between benches", "a leaf-wetness input"],
                 CG=["a second ethernet port", "a built-in battery backup"],
                 IV=["support for more than eight zones", "a fertiliser-dosing output"])))
T("F09", "feature_request", "train", [FB],
  "Could you add a Dutch language option to {p}? Half our staff would find it much easier. {imp}", dict(low=FEAT))
T("F10", "feature_request", "train", [RA],
  "Please release an official Python client for {p}; we're maintaining our own and it's a pain. {imp}", dict(low=FEAT))
T("F11", "feature_request", "train", [FB, RA],
  "Would you consider an integration between {pn} and {third}? We already use it for our records. {imp}", dict(low=FEAT))
T("F12", "feature_request", "train", [FB],
  "It would be handy to set different alert thresholds for day and night in {p}. {imp}", dict(low=FEAT))
# -- test only
T("FT1", "feature_request", "test", [FB],
  "Wish list item: comparing two seasons side by side in {p} would make planning much easier. {imp}", dict(low=FEAT_TE))
T("FT2", "feature_request", "test", [RA, FB],
  "{wish} {imp}", dict(low=FEAT_TE),
  v=dict(wish=by(RA=["Have you thought about a GraphQL version of {p}? It would save us a lot of round trips."],
                 FB=["Have you thought about an offline mode for {p}? Signal in our back field is poor."])))
T("FT3", "feature_request", "test", HW,
  "Idea for the next version of the {pn}: {idea}. {imp}", dict(low=FEAT_TE),
  v=dict(idea=by(R2=["a depth marker on the spike so every probe goes in at the same depth"],
                 DM=["a small display showing the current reading"],
                 CG=["a backup battery that lasts through power cuts"],
                 IV=["a flow meter so we know how much water each zone actually got"])))
T("FT4", "feature_request", "test", HW + [FB, RA],
  "Loving {p} so far. One request: {idea} {imp}", dict(low=FEAT_TE),
  v=dict(idea=by(R2=["could it come in a shorter length for pots?"],
                 DM=["could it log to an SD card as a backup?"],
                 CG=["a pole-mounting kit would be brilliant."],
                 IV=["could it send a text message when a cycle finishes?"],
                 FB=["a weekly summary email would be brilliant."],
                 RA=["could the responses include each device's battery level?"])))


# ---------------------------------------------------------------------------------------------
def _pick(rng, table, prod):
    """Phrases for prod from a list (any product) or a per-product table; None if not allowed."""
    if isinstance(table, list):
        return table
    return table.get(prod, table.get("*"))


def _allowed(t):
    """(priority, product) pairs a template can express."""
    out = []
    for pri in PRIORITIES:
        if pri not in t["imp"]:
            continue
        for prod in t["prods"]:
            if _pick(None, t["imp"][pri], prod) and all(_pick(None, tab, prod) for tab in t["v"].values()):
                out.append((pri, prod))
    return out


SLOT_RE = re.compile(r"\{(\w+)\}")


def _slug(farm):
    return re.sub(r"[^a-z]", "", farm.lower().split()[0])


def _resolve(name, ctx, rng, t, prod):
    if name in ctx:
        return ctx[name]
    if name in t["v"]:
        val = rng.choice(_pick(rng, t["v"][name], prod))
    elif name == "P":
        val = _resolve("p", ctx, rng, t, prod)
        val = val[0].upper() + val[1:]
    elif name in ("p", "pn", "pl"):
        val = rng.choice(ALIASES[prod][name])
    elif name in SLOTS:
        val = rng.choice(SLOTS[name])
    elif name == "farm":
        val = rng.choice(FARMS)
    elif name == "farm2":
        me = _resolve("farm", ctx, rng, t, prod)
        val = rng.choice([f for f in FARMS if f != me])
    elif name == "farmtypo":
        farm = _resolve("farm", ctx, rng, t, prod)
        w = farm.split()[0]
        i = rng.randrange(1, len(w) - 2)
        val = farm.replace(w, w[:i] + w[i + 1] + w[i] + w[i + 2:], 1)
    elif name == "name":
        val = rng.choice([x for x in NAMES_F + NAMES_M if x not in (ctx.get("fname"), ctx.get("mname"))])
    elif name == "fname":
        val = rng.choice(NAMES_F)
    elif name == "mname":
        val = rng.choice(NAMES_M)
    elif name == "email1":
        first = rng.choice(NAMES_F + NAMES_M).lower()
        val = f"{first}.{rng.choice(['m', 'k', 'r', 'h', 'l'])}@{rng.choice(['gmail.com', 'outlook.com', 'proton.me', 'yahoo.co.uk'])}"
    elif name == "email2":
        val = f"{rng.choice(['office', 'admin', 'growers', 'team', 'info'])}@{_slug(_resolve('farm', ctx, rng, t, prod))}.com"
    elif name == "order":
        val = rng.choice(["FH-{}", "#{}", "FH{}", "FH-{}"]).format(rng.randint(10000, 99999))
    elif name == "inv":
        val = rng.choice(["INV-2024-{:04d}", "INV-2023-{:04d}", "INV{:05d}", "FI-{:05d}"]).format(rng.randint(100, 9999))
    elif name == "eur":
        val = f"{rng.randint(19, 980)}.{rng.choice(['00', '00', '50', '90', '99', '40'])}"
    elif name == "date":
        val = f"{rng.randint(1, 28)} {rng.choice(MONTHS[:10])}" + rng.choice([" 2024", " 2024", ""])
    elif name == "n":
        val = str(rng.randint(3, 12))
    elif name == "n2":
        val = str(rng.randint(2, int(_resolve("n", ctx, rng, t, prod)) - 1))
    elif name in ("v", "a"):
        val = str(rng.randint(1, 8))
    elif name == "b":
        a = int(_resolve("a", ctx, rng, t, prod))
        val = str(rng.choice([x for x in range(1, 9) if x != a]))
    elif name == "low":
        val = str(rng.randint(0, 3))
    elif name == "t":
        val = str(rng.randint(16, 22))
    elif name == "t2":
        val = str(int(_resolve("t", ctx, rng, t, prod)) + rng.randint(9, 14))
    else:
        raise KeyError(f"template {t['id']}: unknown slot {{{name}}}")
    ctx[name] = val
    return val


def _fill(text, ctx, rng, t, prod):
    for _ in range(8):
        if "{" not in text:
            return text
        text = SLOT_RE.sub(lambda m: _resolve(m.group(1), ctx, rng, t, prod), text)
    raise ValueError(f"template {t['id']}: slots nested too deep")


def n_sentences(text):
    return len(re.findall(r"[.!?](?=\s|$)", text))


def _typo(text, rng):
    options = [(a, b) for a, b in TYPOS if a in text]
    if len(options) > 1 and rng.random() < 0.8:
        options = [o for o in options if o[0] != "the "]
    if not options:
        return text
    a, b = rng.choice(options)
    return text.replace(a, b, 1)


def render(t, pri, prod, rng):
    ctx = {"imp": rng.choice(_pick(rng, t["imp"][pri], prod))}
    body = " ".join(_fill(t["body"], ctx, rng, t, prod).split())
    if rng.random() < 0.15 and n_sentences(body) < 3:
        openers = [o for o in OPENERS if "{farm}" not in o or "{farm}" not in t["body"]]
        body = _fill(rng.choice(openers), ctx, rng, t, prod) + " " + body
    text = body
    if rng.random() < 0.4:
        text = rng.choice(GREETINGS) + rng.choice([" ", "\n"]) + text
    if rng.random() < 0.4:
        text += rng.choice([" ", "\n"]) + _fill(rng.choice(SIGNOFFS), ctx, rng, t, prod)
    sentences = n_sentences(body)
    r = rng.random()
    if r < 0.07:
        text = text.lower()
    elif r < 0.10 and text.endswith("."):
        text = text[:-1]
    if rng.random() < 0.12:
        text = _typo(text, rng)
    return text, sentences


def build(split, n, rng, seen):
    """n tickets of one split, categories equal, priorities and products as even as templates allow."""
    tpls = {c: [t for t in TEMPLATES if t["cat"] == c and t["split"] == split] for c in CATEGORIES}
    quota = [CATEGORIES[i % len(CATEGORIES)] for i in range(n)]
    rng.shuffle(quota)
    cycles = {c: [] for c in CATEGORIES}
    pc, dc, used = Counter(), Counter(), Counter()
    rows = []
    for cat in quota:
        if not cycles[cat]:
            cycles[cat] = list(tpls[cat])
            rng.shuffle(cycles[cat])
        t = cycles[cat].pop()
        combos = _allowed(t)
        score = lambda c: (pc[c[0]] / (n / 4) + dc[c[1]] / (n / 7) + 0.6 * used[(t["id"],) + c] / (n / 7)
                           + 0.01 * rng.random())
        pri, prod = min(combos, key=score)
        for _ in range(200):
            text, sentences = render(t, pri, prod, rng)
            words = len(text.split())
            if 15 <= words <= 70 and text not in seen and 1 <= sentences <= 4:
                break
        else:
            raise RuntimeError(f"template {t['id']}: could not make a new ticket of 15-70 words")
        seen.add(text)
        pc[pri] += 1
        dc[prod] += 1
        used[(t["id"], pri, prod)] += 1
        rows.append(dict(text=text, label=dict(category=cat, priority=pri, product=prod), template=t["id"]))
    return rows


def main():
    rng = random.Random(SEED)
    seen: set[str] = set()
    splits = {"train": build("train", N_TRAIN, rng, seen), "test": build("test", N_TEST, rng, seen)}
    OUT.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with open(OUT / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            for i, row in enumerate(rows, 1):
                rec = {"id": f"tk-{split}-{i:03d}", "text": row["text"], "label": row["label"],
                       "template": row["template"]}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    n_tpl = Counter((t["cat"], t["split"]) for t in TEMPLATES)
    print("templates per category (train-only / test-only):")
    for c in CATEGORIES:
        print(f"  {c:16s} {n_tpl[(c, 'train')]:2d} / {n_tpl[(c, 'test')]:2d}")
    for field, values in (("category", CATEGORIES), ("priority", PRIORITIES), ("product", PRODUCTS)):
        print(f"{field}:")
        for v in values:
            print(f"  {v:20s} " + "  ".join(f"{s}={sum(r['label'][field] == v for r in rows):3d}"
                                             for s, rows in splits.items()))
    print(f"wrote {len(splits['train'])} train and {len(splits['test'])} test tickets to {OUT}")


if __name__ == "__main__":
    main()
