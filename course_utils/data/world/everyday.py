"""Everyday life: the long tail of the world's vocabulary.

The phenomena the course measures (agreement, coreference, facts, causes, numbers,
sentiment) need only a few hundred words, each seen often. Real text also has a long
tail of words seen rarely: the things people own, what they do with them, where and
when. This module supplies that tail, about 1,500 word forms, through one sentence in
each person document ("On Friday she placed a striped keyring."). The sentences are
grammatical but not always sensible; no task or probe asks about them.

Verb and noun forms are built by English spelling rules; irregular forms are listed.

>>> inflect("carry"), inflect("fix"), inflect("drop"), inflect("make")
(Verb(base='carry', third='carries', past='carried', ing='carrying'), Verb(base='fix', \
third='fixes', past='fixed', ing='fixing'), Verb(base='drop', third='drops', past='dropped', \
ing='dropping'), Verb(base='make', third='makes', past='made', ing='making'))
>>> pluralize("box"), pluralize("shelf"), pluralize("toy"), pluralize("battery")
('boxes', 'shelves', 'toys', 'batteries')
"""

from __future__ import annotations

import random

from course_utils.data.world.grammar import compile_template
from course_utils.data.world.lexicon import Noun, Verb
from course_utils.data.world.templates import article

# ---------------------------------------------------------------- spelling rules
_IRREGULAR_PAST = {
    "bring": "brought", "build": "built", "buy": "bought", "choose": "chose", "draw": "drew",
    "find": "found", "forget": "forgot", "give": "gave", "hang": "hung", "hide": "hid",
    "hold": "held", "keep": "kept", "lend": "lent", "lose": "lost", "make": "made",
    "sell": "sold", "send": "sent", "shake": "shook", "break": "broke", "sweep": "swept",
    "take": "took", "throw": "threw", "win": "won", "wind": "wound", "sew": "sewed",
    "steal": "stole", "spin": "spun", "leave": "left", "get": "got", "bend": "bent", "wear": "wore",
}
_DOUBLED = ("drop", "grab", "hug", "plan", "rob", "scrub", "ship", "shop", "skip", "slip", "stop",
            "swap", "tap", "tug", "unwrap", "wrap", "zip", "pat", "dip", "trim", "win", "spin", "get", "fit",
            "pin", "jog", "mop", "rub", "drag", "chop", "knit", "clip", "flip", "strap", "grip", "trap")
_PLURALS = {"knife": "knives", "shelf": "shelves", "leaf": "leaves", "scarf": "scarves", "loaf": "loaves",
            "wolf": "wolves", "child": "children", "mouse": "mice", "person": "people",
            "foot": "feet", "tooth": "teeth", "potato": "potatoes", "tomato": "tomatoes",
            "mango": "mangos", "piano": "pianos", "radio": "radios", "photo": "photos",
            "video": "videos", "kilo": "kilos", "avocado": "avocados"}


def inflect(base: str) -> Verb:
    """The four forms of a regular (or listed irregular) English verb."""
    doubled = base + base[-1] if base in _DOUBLED else base
    if base.endswith(("s", "sh", "ch", "x", "z", "o")):
        third = base + "es"
    elif base.endswith("y") and base[-2] not in "aeiou":
        third = base[:-1] + "ies"
    else:
        third = base + "s"
    if base in _IRREGULAR_PAST:
        past = _IRREGULAR_PAST[base]
    elif base.endswith("e"):
        past = base + "d"
    elif base.endswith("y") and base[-2] not in "aeiou":
        past = base[:-1] + "ied"
    else:
        past = doubled + "ed"
    if base.endswith("ie"):
        ing = base[:-2] + "ying"
    elif base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        ing = base[:-1] + "ing"
    else:
        ing = doubled + "ing"
    return Verb(base, third, past, ing)


def pluralize(singular: str) -> str:
    """The plural of an English noun (regular rules, listed exceptions)."""
    if singular in _PLURALS:
        return _PLURALS[singular]
    if singular.endswith(("s", "sh", "ch", "x", "z")):
        return singular + "es"
    if singular.endswith("y") and singular[-2] not in "aeiou":
        return singular[:-1] + "ies"
    return singular + "s"


def _nouns(words: str) -> tuple[Noun, ...]:
    return tuple(Noun(w, pluralize(w)) for w in words.split())


# ---------------------------------------------------------------- the long tail
# Verbs that make sense with any thing a person owns.
THING_VERBS = tuple(inflect(v) for v in """
    clean paint fix sell buy find lose carry move open close drop break borrow pack wash
    hide wrap polish repair order choose use bring take keep build check fold hang lift push
    pull shake sort store test throw touch weigh measure replace return share send mark
    label dry dust fetch hold lend mend draw drag grab inspect lock rent swap trade unpack
    unwrap admire decorate examine leave photograph print scrub shine sketch steal tidy
    cover fill empty count collect carve glue iron pin rub sew spin stack trim ship tug bend
    prepare describe compare mention praise study arrange balance deliver design display
    donate fit heat install mail match mix organize pick place protect rescue roll save
    select shop squeeze stretch tie twist view wear wipe adjust attach bury clip coat copy
    crush dent detach dismantle drain fasten flatten flip float grip guard handle juggle
    kick lace lean load loosen lower melt nudge oil patch peel pile point press raise
    recycle repaint reuse rinse rotate sand scratch seal shift sharpen shove sign smash soak
    spray squash stain steady stitch strap stuff sweep tape tighten toss trace transport
    trap unlock unload unscrew unfold untie upgrade varnish warm wax
""".split())

THINGS = _nouns("""
    lamp chair table sofa bed desk shelf cupboard drawer mirror clock carpet rug curtain
    pillow blanket towel sheet basket bucket broom brush comb sponge bottle jar jug kettle
    pan pot plate bowl spoon fork knife glass mug teapot tray oven fridge stove sink candle
    vase frame picture painting poster map globe calendar diary notebook envelope letter
    parcel stamp ticket card wallet purse umbrella suitcase backpack belt scarf glove sock
    shoe boot sandal shirt skirt dress jacket coat sweater hat cap helmet ring necklace
    bracelet button ribbon thread needle hammer nail screw wrench drill ladder rope chain
    hook shovel rake hose wheel bicycle scooter skateboard kite balloon doll puzzle drum
    guitar violin piano flute trumpet radio camera computer laptop keyboard mouse printer
    screen speaker charger battery cable plug padlock toolbox crate barrel sack tent fan
    heater stool bench cushion quilt apron napkin teacup saucer ladle whisk grater sieve
    chopstick lunchbox thermos flask canteen compass lantern torch whistle trophy medal coin
    banknote receipt magazine newspaper novel dictionary atlas album photo video recorder
    microphone telescope microscope magnet marble pebble shell feather seed flowerpot bin
    crayon marker pencil eraser ruler stapler folder binder clipboard sticker badge key
    keyring doorbell mailbox fence gate window door roof wall floor ceiling armchair bathtub
    beanbag bookcase bookmark bulb cabinet cage calculator candlestick canvas carton
    cassette chalk chessboard coaster colander corkscrew cradle crib dartboard deckchair
    dishwasher doormat dumbbell easel fishbowl flag footstool fryer funnel goblet hairbrush
    hairdryer hammock hanger harmonica highchair inkpot jigsaw kayak lampshade lawnmower
    leash locket mattress mitten mixer mop nutcracker oar paddle paintbrush pedal pitcher
    plank projector pram pulley racket rattle razor saddle sandbox satchel scarecrow
    shoelace sketchbook skillet sled slingshot snorkel spatula spool statue stethoscope
    stopwatch strainer surfboard swing tablecloth tambourine thimble toaster toothbrush
    trolley trunk tuba typewriter ukulele vacuum wagon wardrobe washbasin wheelbarrow wok
    xylophone yoyo
""")

ROOMS = ("kitchen", "bedroom", "garage", "attic", "cellar", "hallway", "bathroom", "garden", "office",
         "studio", "workshop", "basement", "shed", "library", "classroom", "shop", "market",
         "station", "yard", "car", "boat")
COLORS = ("red", "blue", "green", "yellow", "black", "white", "brown", "grey", "orange", "pink",
          "purple", "golden", "silver", "wooden", "plastic", "metal", "glass", "paper", "leather",
          "woolen", "cotton", "shiny", "heavy", "light", "soft", "broken", "round", "square",
          "tiny", "huge", "new", "used", "cheap", "expensive", "striped", "spotted")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")

# ---------------------------------------------------------------- sentences
ACTIVITY = {key: compile_template(source) for key, source in {
    "on_day": "on@1:case {day}@3:obl {A.subj}@3:nsubj {past}@root {a}@6:det {color}@6:amod "
              "{thing}@3:obj .@3:punct",
    "in_room": "{A.subj}@1:nsubj {past}@root the@3:det {thing}@1:obj in@6:case the@6:det "
               "{room}@1:obl .@1:punct",
    "every_day": "every@1:det {day}@3:obl:tmod {A.subj}@3:nsubj {third}@root {A.poss}@5:nmod:poss "
                 "{things}@3:obj .@3:punct",
    "progressive": "{A.subj}@2:nsubj is@2:aux {ing}@root the@4:det {things}@2:obj in@7:case "
                   "the@7:det {room}@2:obl .@2:punct",
    "wants_to": "{A.subj}@1:nsubj wants@root to@3:mark {base}@1:xcomp {a}@6:det {color}@6:amod "
                "{thing}@3:obj in@8:case {month}@3:obl .@1:punct",
}.items()}


def everyday_words() -> list[str]:
    """Every word form this module can put in a sentence."""
    forms = [f for verb in THING_VERBS for f in (verb.base, verb.third, verb.past, verb.ing)]
    forms += [f for thing in THINGS for f in (thing.singular, thing.plural)]
    return [*forms, *ROOMS, *COLORS, *DAYS, *MONTHS]


def activity_values(rng: random.Random) -> dict[str, str]:
    """Slot values for any ``ACTIVITY`` sentence."""
    verb, thing, color = rng.choice(THING_VERBS), rng.choice(THINGS), rng.choice(COLORS)
    return {"base": verb.base, "third": verb.third, "past": verb.past, "ing": verb.ing,
            "thing": thing.singular, "things": thing.plural, "color": color, "a": article(color),
            "room": rng.choice(ROOMS), "day": rng.choice(DAYS), "month": rng.choice(MONTHS)}
