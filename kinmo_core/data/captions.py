"""HumanML3D-style captions for synthetic motions: a grammar with synonyms and paraphrases, a tagger, mirroring.

Captions are coarse on purpose: many name only the dominant action (usually the legs') and leave out what the
arms or head do, some add one other body part, a few describe everything. Phrases are written with their verbs
marked (`^walk forward`) so one phrase yields the third person ("walks forward") and the gerund ("walking
forward"). `tag` writes HumanML3D's `word/POS` tokens (lemmas, no punctuation) with a fixed lexicon, no model.
"""

from __future__ import annotations

import re

import numpy as np

SUBJECTS: tuple[str, ...] = ("a person", "someone", "a man", "a woman", "the person", "a figure", "the man",
                             "a human", "the woman", "a guy")
THEN: tuple[str, ...] = ("then", "and then", "after that", "and after that", "before", "next")

_DOUBLE = {"run", "hop", "jog", "step", "nod", "clap", "squat", "sit", "drop", "stop", "jab", "get", "put", "swim"}
_IRREGULAR_3SG = {"do": "does", "go": "goes", "have": "has"}


def third_person(verb: str) -> str:
    """Return the third person singular present of a base-form verb."""
    if verb in _IRREGULAR_3SG:
        return _IRREGULAR_3SG[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    """Return the -ing form of a base-form verb."""
    if verb in _DOUBLE:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye")):
        return verb[:-1] + "ing"
    return verb + "ing"


def conjugate(phrase: str, form: str) -> str:
    """Return a phrase with each ^verb in 'third' person or 'gerund' form."""
    fn = third_person if form == "third" else gerund
    return re.sub(r"\^(\w+)", lambda m: fn(m.group(1)), phrase)


def _hand(side: str, part: str = "hand") -> str:
    return f"the {side} {part}"


def _times(count: int) -> str:
    return {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}.get(count, f"{count} times")


def leg_phrases(spec: dict) -> list[str]:
    """Return paraphrases (verbs marked with ^) of a leg activity spec."""
    a = spec["action"]
    if a == "walk":
        speed = spec.get("speed", 1.1)
        adv = " quickly" if speed > 1.25 else (" slowly" if speed < 0.95 else "")
        d = spec.get("direction", "forward")
        if d == "forward":
            return [f"^walk forward{adv}", f"^walk ahead{adv}", f"^stroll forward{adv}", f"^pace forward{adv}",
                    f"^walk straight ahead{adv}", "^take a few steps forward", f"^walk{adv}"]
        if d == "backward":
            return ["^walk backward", "^walk backwards", "^step backward", "^back up slowly", "^walk in reverse"]
        side = spec["turn"]
        if d == "circle":
            return [f"^walk in a circle to the {side}", "^walk in a circle", "^walk around in a full circle",
                    f"^walk around in a circle {'counterclockwise' if side == 'left' else 'clockwise'}",
                    "^circle around"]
        if spec.get("angle", 90) >= 180:
            return [f"^walk forward and ^turn around to the {side}", "^walk and ^turn around",
                    f"^walk in a u-turn to the {side}", "^make a u-turn while walking"]
        return [f"^walk forward and ^turn {side}", f"^walk while turning to the {side}",
                f"^walk in a curve to the {side}", f"^turn {side} while walking", "^walk and ^turn"]
    if a == "jog":
        return ["^jog forward", "^jog", "^trot forward", "^jog ahead", "^jog forward at an easy pace"]
    if a == "run":
        return ["^run forward", "^run", "^sprint forward", "^dash forward", "^run ahead quickly", "^run fast"]
    if a == "march":
        if spec.get("direction") == "in_place":
            return ["^march in place", "^march on the spot", "^lift the knees high in place", "^march",
                    "^march in place with high knees"]
        return ["^march forward", "^march ahead with high knees", "^march", "^march forward lifting the knees"]
    if a == "side_step":
        side = spec["direction"]
        return [f"^sidestep to the {side}", f"^step sideways to the {side}", f"^shuffle to the {side}",
                f"^move sideways to the {side}", f"^sidestep {side}", "^step sideways"]
    if a == "step_over":
        return ["^step over something", "^step over an obstacle", "^walk forward and ^step over something",
                "^walk and ^step over an object", "^lift the legs high to ^step over an obstacle"]
    if a == "jump":
        c = spec.get("count", 1)
        if spec.get("direction") == "forward":
            base = ["^jump forward", "^leap forward", "^jump ahead", "^do a forward jump"]
            return base + ([f"^jump forward {_times(c)}"] if c > 1 else ["^jump forward once"])
        if c > 1:
            return [f"^jump {_times(c)}", "^jump up and down", "^jump repeatedly in place",
                    f"^jump in place {_times(c)}"]
        return ["^jump", "^jump in place", "^jump up", "^leap up", "^jump straight up"]
    if a == "hop":
        side = spec["side"]
        fwd = " forward" if spec.get("direction") == "forward" else ""
        return [f"^hop{fwd} on the {side} leg", f"^hop{fwd} on one leg", f"^hop{fwd} on the {side} foot",
                f"^hop{fwd} on one foot", f"^hop on the {side} leg {_times(spec.get('count', 2))}"]
    if a == "squat":
        c = spec.get("count", 1)
        many = [f"^do {c} squats".replace("2 squats", "two squats").replace("3 squats", "three squats"),
                f"^squat down {_times(c)}"] if c > 1 else ["^do a squat"]
        return ["^squat", "^squat down and ^stand back up", "^crouch down and ^get back up",
                "^bend both knees and ^lower the hips", *many]
    if a == "lunge":
        side = spec["side"]
        return [f"^lunge forward with the {side} leg", "^do a lunge", "^step forward into a lunge", "^lunge forward",
                f"^do a forward lunge with the {side} leg"]
    if a == "kneel":
        side = spec["side"]
        return [f"^kneel on the {side} knee", "^kneel down", "^go down on one knee", "^kneel down and ^get back up",
                f"^put the {side} knee on the ground"]
    if a == "knee_lift":
        side = spec["side"]
        other = "right" if side == "left" else "left"
        c = spec.get("count", 1)
        return [f"^lift the {side} knee", f"^raise the {side} knee to hip height", f"^bring the {side} knee up",
                f"^stand on the {other} leg and ^lift the {side} knee", f"^balance on one leg with the {side} knee up",
                f"^raise the {side} knee {_times(c)}" if c > 1 else f"^lift the {side} knee and ^hold it up",
                "^raise one knee"]
    if a == "kick":
        side = spec["side"]
        high = " high" if spec.get("height") == "high" else ""
        if spec.get("style") == "side":
            return [f"^do a side kick with the {side} leg", f"^kick to the side with the {side} leg",
                    f"^kick sideways{high}", "^kick"]
        c = spec.get("count", 1)
        return [f"^kick{high} with the {side} leg", f"^kick forward with the {side} foot",
                f"^do a front kick with the {side} leg", "^kick", f"^kick {_times(c)}"]
    return ["^stand still", "^stand in place", "^stand", "^stand idle", "^stay in place"]


def arm_phrases(spec: dict, side: str | None) -> list[str]:
    """Return paraphrases of an arm action; side is 'left', 'right' or None for both arms."""
    a = spec["action"]
    who = _hand(side) if side else "both hands"
    arm = _hand(side, "arm") if side else "both arms"
    if a == "wave":
        high = spec.get("height") == "high"
        out = [f"^wave {who}", f"^wave with {who}", f"^wave {arm}", "^wave"]
        out.append(f"^raise {who} and ^wave" if high else f"^wave {who} low")
        return out
    if a == "raise":
        d = spec["direction"]
        where = {"forward": "forward", "sideways": "out to the side", "overhead": "above the head"}[d]
        return [f"^raise {arm} {where}", f"^lift {arm} {where}", f"^hold {arm} {where}",
                f"^raise {arm}" + (" up high" if d == "overhead" else "")]
    if a == "punch":
        c = spec.get("count", 1)
        fist = f"the {side} fist" if side else "both fists"
        return [f"^punch with {fist}", f"^throw a punch with {who}" if side else "^throw punches",
                f"^jab with {arm}", f"^punch {_times(c)}" if c > 1 else "^punch", "^punch forward"]
    if a == "reach":
        d = {"forward": "forward", "up": "up", "side": "out to the side"}[spec["direction"]]
        return [f"^reach {d} with {who}", f"^reach {d}", f"^stretch out {arm}" if d != "up" else "^reach up high",
                f"^extend {arm} {d}"]
    if a == "point":
        d = {"forward": "forward", "side": "to the side", "up": "upward"}[spec["direction"]]
        return [f"^point {d} with {who}", f"^point {d}", f"^point {d} with {arm}"]
    if a == "clap":
        return ["^clap", "^clap the hands", "^clap both hands together", "^clap repeatedly"]
    if a == "hands_on_hips":
        if side:
            return [f"^put {who} on the hip", f"^rest {who} on the hip", f"^place {who} on the hip"]
        return ["^put the hands on the hips", "^put both hands on the hips", "^stand with hands on hips",
                "^rest the hands on the hips"]
    if a == "cross_arms":
        return ["^cross the arms", "^fold the arms", "^cross both arms over the chest", "^fold the arms in front"]
    if a == "throw":
        return [f"^throw something with {who}", f"^make a throwing motion with {arm}", f"^toss something with {who}",
                f"^throw a ball overhand with {arm}", "^throw something"]
    if a == "swing":
        return ["^swing the arms", "^swing the arms naturally", "^swing both arms"]
    return []


def torso_phrases(spec: dict) -> list[str]:
    """Return paraphrases of a torso action."""
    a = spec["action"]
    if a == "bow":
        deep = spec.get("angle", 45) > 55
        return ["^bow", "^bow forward", "^bend forward", "^bend over" if deep else "^bow slightly",
                "^bow deeply" if deep else "^take a bow"]
    if a == "lean":
        d = spec["direction"]
        return [f"^lean to the {d}", f"^tilt the upper body to the {d}", f"^lean {d}", f"^bend the torso to the {d}"]
    if a == "twist":
        d = spec["direction"]
        if spec.get("mode") == "alternate":
            return ["^twist the upper body from side to side", "^twist the torso back and forth",
                    "^rotate the torso left and right"]
        return [f"^twist the torso to the {d}", f"^turn the upper body to the {d}", "^twist at the waist",
                f"^rotate the torso to the {d}"]
    return []


def neck_phrases(spec: dict) -> list[str]:
    """Return paraphrases of a head action."""
    a = spec["action"]
    if a == "nod":
        return ["^nod", "^nod the head", "^nod yes", "^nod a few times"]
    if a == "shake":
        return ["^shake the head", "^shake the head no", "^shake the head from side to side"]
    if a == "look":
        d = spec["direction"]
        if d in ("left", "right"):
            return [f"^look to the {d}", f"^turn the head to the {d}", f"^look {d}", f"^glance to the {d}"]
        return [f"^look {d}", f"^tilt the head {d}", f"^look {d}ward"]
    return []


def _arms_phrase(seg: dict, rng: np.random.Generator) -> str | None:
    left, right = seg["left_arm"], seg["right_arm"]
    quiet = ("still", "swing")
    if left["action"] in quiet and right["action"] in quiet:
        return None
    if left["action"] == right["action"]:
        options = arm_phrases(left, None)
    elif right["action"] in quiet:
        options = arm_phrases(left, "left")
    elif left["action"] in quiet:
        options = arm_phrases(right, "right")
    else:
        a = arm_phrases(left, "left")
        b = arm_phrases(right, "right")
        return str(rng.choice(a)) + " and " + str(rng.choice(b))
    return str(rng.choice(options))


def _segment_parts(seg: dict, rng: np.random.Generator) -> dict[str, str | None]:
    legs = seg["legs"]["action"]
    parts: dict[str, str | None] = {
        "legs": str(rng.choice(leg_phrases(seg["legs"]))) if legs != "still" else None,
        "arms": _arms_phrase(seg, rng),
        "torso": str(rng.choice(torso_phrases(seg["torso"]))) if seg["torso"]["action"] != "upright" else None,
        "neck": str(rng.choice(neck_phrases(seg["neck"]))) if seg["neck"]["action"] != "neutral" else None,
    }
    return parts


def _segment_clause(seg: dict, rng: np.random.Generator, detail: str) -> str:
    """Return one segment's clause (base forms, ^-marked): the dominant action plus maybe more."""
    parts = _segment_parts(seg, rng)
    order = ["legs", "torso", "arms", "neck"]
    present = [k for k in order if parts[k]]
    if not present:
        return str(rng.choice(leg_phrases({"action": "still"})))
    dominant = present[0]
    main = parts[dominant]
    extras = present[1:]
    if detail == "dominant" or not extras:
        return main
    if detail == "one":
        extras = [extras[int(rng.integers(len(extras)))]]
    joined = " and ".join(conjugate(parts[k], "gerund") for k in extras)
    if rng.random() < 0.25 or "while" in main:
        return f"{main}, {joined}"
    return f"{main} while {joined}"


def caption_motion(segments: list[dict], rng: np.random.Generator, count: int = 3) -> list[str]:
    """Return `count` different captions of a segment plan (ground-truth segment specs)."""
    out: list[str] = []
    tries = 0
    while len(out) < count and tries < 40:
        tries += 1
        detail = str(rng.choice(["dominant", "dominant", "one", "all"], p=[0.3, 0.15, 0.35, 0.2]))
        segs = segments
        if len(segs) > 1 and rng.random() < 0.2:
            # Coarse on purpose: sometimes a caption names only the longest segment.
            segs = [max(segs, key=lambda s: s["end"] - s["start"])]
        clauses = [_segment_clause(s, rng, detail) for s in segs]
        subject = str(rng.choice(SUBJECTS))
        if len(clauses) == 1:
            text = f"{subject} {conjugate(clauses[0], 'third')}"
        else:
            link = str(rng.choice(THEN))
            if link == "before" and len(clauses) == 2:
                text = f"{subject} {conjugate(clauses[0], 'third')} before {conjugate(clauses[1], 'gerund')}"
            else:
                if link == "before":
                    link = "then"
                head = conjugate(clauses[0], "third")
                rest = [conjugate(c, "third") for c in clauses[1:]]
                sep = " " if link.startswith("and") else ", "
                text = f"{subject} {head}" + "".join(f"{sep}{link} {r}" for r in rest)
        text = re.sub(r"\s+", " ", text).strip().replace(" ,", ",")
        if rng.random() < 0.5:
            text = text + "."
        if rng.random() < 0.15:
            text = text[0].upper() + text[1:]
        if text not in out:
            out.append(text)
    return out


# ------------------------------------------------------------------------------------------------ mirroring

_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "clockwise": "counterclockwise",
         "counterclockwise": "clockwise"}
_SWAP_RE = re.compile(r"\b(" + "|".join(sorted(_SWAP, key=len, reverse=True)) + r")\b")


def mirror_text(text: str) -> str:
    """Return text with left and right (and clockwise / counterclockwise) swapped, as HumanML3D's augmentation."""
    return _SWAP_RE.sub(lambda m: _SWAP[m.group(1)], text)


# ------------------------------------------------------------------------------------------------ tagging

_LEXICON: dict[str, tuple[str, str]] = {}


def _add(pos: str, words: str) -> None:
    for w in words.split():
        _LEXICON[w] = (w, pos)


_add("DET", "a an the some any every each his her its their this that")
_add("PRON", "someone somebody something it they he she one")
_add("CCONJ", "and or but")
_add("SCONJ", "while before after as")
_add("ADP", "with on to in over above of from at into around onto by")
_add("ADV", "forward forwards backward backwards ahead then quickly slowly straight up down out back sideways away "
     "together repeatedly once twice high low fast next upward downward deeply slightly naturally clockwise "
     "counterclockwise again around")
_add("ADJ", "left right both few easy full high-knee deep forward-facing angry happy sad proud tired active musical "
     "childish elderly masculine feminine manly heavy huge normal unsure thuggish giant-like energetic short old "
     "street easy")
_add("ADP", "like without")
_add("NUM", "two three four five 2 3 4 5")
_add("PART", "no yes")
_add("AUX", "is")
_NOUN_PLURALS = {"hands": "hand", "arms": "arm", "hips": "hip", "knees": "knee", "legs": "leg", "fists": "fist",
                 "feet": "foot", "steps": "step", "squats": "squat", "punches": "punch", "times": "time"}
_NOUNS = ("person man woman figure human guy hand arm hip knee leg fist foot head torso body waist chest ground "
          "circle curve step squat punch lunge kick jump bow pace spot obstacle object ball motion side time u-turn "
          "upper reverse height")
_add("NOUN", _NOUNS)
for _plural, _lemma in _NOUN_PLURALS.items():
    _LEXICON[_plural] = (_lemma, "NOUN")
_VERBS = ("walk stroll pace take step turn circle make jog trot run sprint dash march lift move sidestep shuffle side "
          "jump leap do hop squat crouch get stand bend lower lunge kneel go put kick stay wave raise hold punch "
          "throw jab reach stretch extend point clap rest place cross fold toss swing bow lean tilt twist rotate nod "
          "shake look glance back dance perform guide gesture show respond answer react call beckon slash bring "
          "balance")
for _v in _VERBS.split():
    for _form in (_v, third_person(_v), gerund(_v)):
        if _form not in _LEXICON or _LEXICON[_form][1] != "NOUN" or _form != _v:
            _LEXICON[_form] = (_v, "VERB")
_LEXICON["taking"] = ("take", "VERB")
_LEXICON["upper"] = ("upper", "ADJ")
_LEXICON["side"] = ("side", "NOUN")
_LEXICON["back"] = ("back", "ADV")


def tag(text: str) -> str:
    """Return HumanML3D's token string ('word/POS' lemmas separated by spaces, punctuation dropped) of a caption."""
    words = re.findall(r"[a-z0-9\-]+", text.lower())
    return " ".join("{}/{}".format(*_LEXICON.get(w, (w, "ADV" if w.endswith("ly") else "NOUN"))) for w in words)


def humanml_line(caption: str, start: float = 0.0, end: float = 0.0) -> str:
    """Return one HumanML3D texts/ line: caption#tokens#start#end (0.0 0.0 = the whole motion)."""
    caption = caption.replace("#", " ").replace("\n", " ").strip()
    return f"{caption}#{tag(caption)}#{start:.1f}#{end:.1f}"
