"""Ordinary-language wording of the corpus actions, beyond the caption grammar (issue 21).

Two uses of one table. The Motion Reasoner's trainer paraphrases corpus captions with it and composes extra captions
from it (`training/reasoner_augment.py`); the reasoner reads it at decoding time to tell which actions a caption gives
or implies (`stated_actions`), so a description phrase naming an action the caption never asked for can be dropped.
Phrases mark their verbs with ^ as `kinmo_core.data.captions` does (`conjugate` makes the third person or gerund).
"""

from __future__ import annotations

import re

from kinmo_core.data.actions import ACTION_WORDS, IMPLIED_ACTIONS, SAME_POSE, mentions_action
from kinmo_core.data.captions import gerund, third_person

GAIT_VERBS: dict[str, tuple[str, ...]] = {
    "walk": ("^stroll along", "^wander around", "^amble along", "^saunter forward", "^meander ahead",
             "^trudge forward", "^plod along", "^tread forward", "^hike ahead", "^roam about", "^mosey along",
             "^wander forward", "^amble ahead", "^stroll ahead", "^step along at an easy pace", "^head forward on foot",
             "^go for a walk", "^go for a stroll", "^move ahead on foot", "^promenade along", "^advance on foot",
             "^make a short walk", "^cross the room on foot", "^walk along casually", "^wander slowly",
             "^stride along", "^traipse forward", "^shamble forward", "^toddle along", "^patrol the area on foot"),
    "jog": ("^jog lightly", "^lope along", "^trot along", "^run at an easy pace", "^go for a jog",
            "^jog at a gentle tempo", "^run slowly", "^jog steadily", "^do a light jog", "^jog along the path"),
    "run": ("^race ahead", "^rush forward", "^bolt forward", "^dash off", "^hurry forward at full speed",
            "^charge ahead", "^speed forward", "^tear off at full speed", "^scurry ahead", "^scamper away",
            "^run flat out", "^race forward", "^rush ahead", "^bolt away", "^sprint off", "^run as fast as possible",
            "^gallop ahead", "^flee at full speed", "^go for a run", "^zoom ahead"),
    "march": ("^parade forward", "^march in step", "^stomp forward in step", "^walk with high knees",
              "^march like a soldier", "^step high like a soldier", "^step high in a march", "^march smartly"),
}
"""Gait verbs the corpus grammar lacks, per leg action (both legs do it, the arms swing)."""

SNEAK_VERBS: tuple[str, ...] = ("^sneak forward", "^tiptoe ahead", "^creep forward", "^prowl ahead", "^slink along",
                                "^tiptoe quietly", "^creep slowly", "^sneak along quietly", "^walk on tiptoe",
                                "^sneak ahead", "^creep along", "^tiptoe across the floor", "^skulk forward")
"""A slow walk, hunched forward (the torso bows)."""

STUMBLE_VERBS: tuple[str, ...] = ("^trip and ^stagger", "^stagger forward", "^lurch forward",
                                  "^totter ahead", "^stumble along", "^trip over something",
                                  "^stumble and nearly ^fall", "^stagger along", "^lose balance while walking",
                                  "^teeter forward", "^trip while walking", "^wobble forward unsteadily")
"""A walk whose torso lurches forward (bow) or sideways (lean)."""

KNEE_RAISE: tuple[str, ...] = ("^raise the {side} knee", "^lift the {side} knee", "^bring the {side} knee up",
                               "^pull the {side} knee up toward the chest", "^raise the {side} knee high",
                               "^draw the {side} knee up", "^lift the {side} knee to hip height",
                               "^bring the {side} knee up to the chest", "^hold the {side} knee up",
                               "^raise the {side} thigh", "^stand on one leg with the {side} knee up",
                               "^balance on one leg, the {side} knee raised", "^do a {side} knee raise",
                               "^tuck the {side} knee up")
"""One leg lifted (the `lift` action) while the other stands."""

KNEES_ALTERNATE: tuple[str, ...] = ("^raise the knees one after the other", "^lift the knees alternately",
                                    "^do high knees", "^pump the knees up and down in place",
                                    "^alternate knee raises", "^bring each knee up in turn")
"""Alternating knee raises: a march in place."""

STAND_STILL: tuple[str, ...] = ("^stand motionless", "^wait", "^stay put", "^remain in place", "^hold still",
                                "^stand quietly", "^keep still", "^pause", "^stand and ^wait", "^remain standing",
                                "^stand at attention", "^stand there doing nothing", "^stay motionless",
                                "^wait patiently", "^stand around", "^stand calmly", "^linger in place",
                                "^do nothing at all", "^keep perfectly still", "^freeze in place")
"""Standing still: every group at rest, one segment."""

LOOK_VERBS: dict[str, tuple[str, ...]] = {
    "up": ("^look up", "^gaze upward", "^look up at the clouds", "^glance up", "^raise the chin and ^look up",
           "^tip the head back", "^peer up at the ceiling", "^look skyward", "^stare up", "^look up overhead"),
    "down": ("^look down", "^gaze at the floor", "^look down at the ground", "^glance down", "^lower the head",
             "^drop the gaze to the floor", "^peer down", "^stare at the ground", "^look down at the feet",
             "^bow the head down"),
    "left": ("^glance over the left shoulder", "^peek to the left", "^check to the left", "^turn to look left",
             "^look over to the left", "^glance left", "^turn the face to the left", "^look off to the left"),
    "right": ("^glance over the right shoulder", "^peek to the right", "^check to the right", "^turn to look right",
              "^look over to the right", "^glance right", "^turn the face to the right", "^look off to the right"),
}
"""Head turns and tilts in other words, per direction (the neck's `look` action)."""

EVERYDAY: tuple[tuple[str, dict[str, str]], ...] = (
    # one-armed (the right arm when the caption names no side: the convention of the trainer's mirroring)
    ("^greet someone with a wave of the {side} hand", {"arm": "wave"}),
    ("^say goodbye with the {side} hand", {"arm": "wave"}),
    ("^hail a taxi with the {side} hand", {"arm": "wave"}),
    ("^flag someone down", {"arm": "wave"}),
    ("^say hello with a wave", {"arm": "wave"}),
    ("^wave goodbye", {"arm": "wave"}),
    ("^wave hello to a friend", {"arm": "wave"}),
    ("^put the {side} hand up to ask a question", {"arm": "raise"}),
    ("^raise the {side} hand to volunteer", {"arm": "raise"}),
    ("^put a hand up in class", {"arm": "raise"}),
    ("^hold the {side} hand up to stop traffic", {"arm": "raise"}),
    ("^show the way with the {side} hand", {"arm": "point"}),
    ("^indicate something ahead with the {side} hand", {"arm": "point"}),
    ("^point something out", {"arm": "point"}),
    ("^grab something from a high shelf", {"arm": "reach"}),
    ("^reach for a cup on the table", {"arm": "reach"}),
    ("^reach for the door handle", {"arm": "reach"}),
    ("^offer a hand to someone", {"arm": "reach"}),
    ("^toss a ball", {"arm": "throw"}),
    ("^throw a stone into the water", {"arm": "throw"}),
    ("^pitch a baseball", {"arm": "throw"}),
    ("^lob a ball with the {side} hand", {"arm": "throw"}),
    ("^hurl a rock", {"arm": "throw"}),
    ("^hit a punching bag", {"arm": "punch"}),
    ("^box with the {side} fist", {"arm": "punch"}),
    ("^throw a jab at an opponent", {"arm": "punch"}),
    ("^strike out with the {side} fist", {"arm": "punch"}),
    ("^kick a ball", {"leg": "kick"}),
    ("^kick a football with the {side} foot", {"leg": "kick"}),
    ("^boot a ball away", {"leg": "kick"}),
    ("^punt a ball with the {side} foot", {"leg": "kick"}),
    ("^kick open a door", {"leg": "kick"}),
    # two-armed and whole-body
    ("^applaud", {"arms": "clap"}),
    ("^give a round of applause", {"arms": "clap"}),
    ("^applaud enthusiastically", {"arms": "clap"}),
    ("^clap to the beat", {"arms": "clap"}),
    ("^wait impatiently with folded arms", {"arms": "cross_arms"}),
    ("^stand with the arms folded", {"arms": "cross_arms"}),
    ("^hug the chest with both arms", {"arms": "cross_arms"}),
    ("^stand akimbo", {"arms": "hands_on_hips"}),
    ("^stand with the fists on the hips", {"arms": "hands_on_hips"}),
    ("^cheer with both arms in the air", {"arms": "raise"}),
    ("^stretch both arms up toward the ceiling", {"arms": "raise"}),
    ("^throw both hands up in celebration", {"arms": "raise"}),
    ("^surrender with the hands up", {"arms": "raise"}),
    ("^agree", {"neck": "nod"}),
    ("^say yes with the head", {"neck": "nod"}),
    ("^nod to agree", {"neck": "nod"}),
    ("^bob the head in approval", {"neck": "nod"}),
    ("^disagree", {"neck": "shake"}),
    ("^say no with the head", {"neck": "shake"}),
    ("^refuse, shaking the head", {"neck": "shake"}),
    ("^greet someone with a bow", {"torso": "bow"}),
    ("^bow courteously", {"torso": "bow"}),
    ("^bend down to pick something up", {"torso": "bow"}),
    ("^bend over to tie a shoe", {"torso": "bow"}),
    ("^stretch the side, leaning {side}", {"torso": "lean"}),
    ("^look behind, turning the torso {side}", {"torso": "twist"}),
    ("^jump for joy", {"legs": "jump"}),
    ("^jump over a puddle", {"legs": "jump"}),
    ("^hop over a small obstacle", {"legs": "jump"}),
    ("^crouch down to look under a table", {"legs": "squat"}),
    ("^sit down on the heels", {"legs": "squat"}),
    ("^duck down low", {"legs": "squat"}),
    ("^do deep knee bends", {"legs": "squat"}),
    ("^propose on one knee", {"legs": "kneel"}),
    ("^get down on the {side} knee", {"legs": "kneel"}),
    ("^step to the {side} to make room", {"legs": "side_step"}),
    ("^move over to the {side}", {"legs": "side_step"}),
)
"""Everyday actions the corpus has a matching action for: (phrase, {part: action}); part is arm, leg (one side),
arms, legs (both), torso or neck; {side} is filled with the side the phrase names."""

SIDE_LEADS: tuple[str, ...] = ("with the {side} {part}, ", "using the {side} {part}, ", "on the {side} side, ")
SIDE_TAILS: tuple[str, ...] = (", using the {side} {part}", " with the {part} on the {side}",
                               ", with the {side} one", " - the {side} {part}")
"""Sides named in unusual places: before the subject or after the verb phrase."""


_GENERIC = {"go", "make", "do", "step", "move", "walk", "run", "jog", "look", "turn", "stand", "put", "raise", "lift",
            "bring", "hold", "get", "say", "give", "show", "throw", "stretch", "hit", "bend", "cross", "hug", "reach",
            "grab", "offer", "point", "kick", "jump", "hop", "duck", "sit", "wave", "greet", "pull", "draw",
            "tuck", "balance", "lose", "trip", "bow", "drop", "tip", "check", "peek", "lower", "crouch", "wait",
            "keep", "remain", "stay", "pause", "freeze", "linger", "advance", "head", "patrol", "stride"}
"""Verbs too general to stand for one action on their own (their phrases still train the reasoner)."""


def _forms(verb: str) -> set[str]:
    past = verb + ("d" if verb.endswith("e") else "ed")
    return {verb, third_person(verb), gerund(verb), past}


def _head_verbs(phrases) -> set[str]:
    """The inflected forms of each phrase's first verb, general verbs (`_GENERIC`) left out."""
    return {form for p in phrases for v in re.findall(r"\^([\w-]+)", p)[:1] if v not in _GENERIC
            for form in _forms(v)}



STATED_WORDS: dict[str, frozenset[str]] = {
    "walk": frozenset(_head_verbs(GAIT_VERBS["walk"] + SNEAK_VERBS + STUMBLE_VERBS)
                      | {"on foot", "tiptoe", "trip", "lose balance", "loses balance", "losing balance"}),
    "jog": frozenset(_head_verbs(GAIT_VERBS["jog"])
                     | {"lope", "loping", "easy pace", "gentle", "light run", "lightly", "run slowly", "runs slowly",
                        "running slowly"}),
    "run": frozenset(_head_verbs(GAIT_VERBS["run"]) | {"full speed", "as fast as"}),
    "march": frozenset(_head_verbs(GAIT_VERBS["march"]) | {"high knees", "in step", "knees", "knee raise",
                                                          "in turn", "alternat", "step high",
                                                          "steps high", "soldier"}),
    "lift": frozenset({"knee up", "knee high", "knee raise", "knees up", "the knee", "left knee", "right knee",
                       "one leg", "one foot", "thigh"}),
    "bow": frozenset({"hunch", "hunched", "stoop", "stooped", "stooping", "crouched over", "bend down", "bends down",
                      "bending down", "bend over", "bends over", "sneak", "creep", "prowl", "skulk", "stumbl", "trip",
                      "lurch", "tiptoe", "stagger", "totter", "teeter", "wobbl", "slink", "balance"}),
    "lean": frozenset({"stagger", "reel", "totter", "teeter", "wobbl", "sway", "lurch", "stumbl", "lose balance",
                       "loses balance", "trip", "torso to the", "upper body to the"}),
    "look": frozenset({"gaze", "glanc", "peer", "peek", "stare", "staring", "chin", "head back", "lower the head",
                       "lowers the head", "lowering the head", "skyward", "shoulder", "face", "check", "behind",
                       "turning the head", "turn the head", "head up", "head down", "tilting the head",
                       "tilt the head", "tilts the head"}),
    "twist": frozenset({"rotat", "turning the torso", "turning the upper body", "turn the upper body",
                        "turns the upper body", "turn the torso", "turns the torso", "behind"}),
    "still": frozenset({"wait", "stay put", "stays put", "remain", "pause", "motionless", "freeze", "freezes",
                        "idle", "linger"}),
    "nod": frozenset({"agree", "approval", "say yes", "says yes", "saying yes"}),
    "shake": frozenset({"disagree", "refus", "say no", "says no", "saying no"}),
    "wave": frozenset({"greet", "goodbye", "hello", "hail", "flag"}),
    "raise": frozenset({"hand up", "hands up", "arm up", "arms up", "in the air", "volunteer", "cheer", "surrender",
                        "celebrat"}),
    "point": frozenset({"show the way", "shows the way", "indicat"}),
    "reach": frozenset({"grab", "offer", "handle", "extend", "stretches out", "stretching out"}),
    "throw": frozenset({"lob", "hurl", "pitch", "toss"}),
    "punch": frozenset({"box", "boxing", "punching", "strike", "strikes"}),
    "kick": frozenset({"boot", "punt", "football", "soccer"}),
    "clap": frozenset({"applau", "applause"}),
    "cross_arms": frozenset({"folded arms", "arms folded", "folds the arms", "fold the arms", "hug the chest",
                             "hugs the chest"}),
    "hands_on_hips": frozenset({"akimbo", "on the hips", "on her hips", "on his hips", "on their hips"}),
    "jump": frozenset({"for joy", "over a"}),
    "squat": frozenset({"duck", "on the heels", "knee bend", "crouch", "bending both knees", "lowering the hips"}),
    "kneel": frozenset({"one knee", "on the left knee", "on the right knee", "propos"}),
    "side_step": frozenset({"move over", "moves over", "make room", "shuffl", "sidestepp", "stepping sideways",
                             "moving sideways"}),
}
"""Words (matched at word starts) by which a caption gives an action beyond the action vocabulary's own words."""

def _gerund_stems(words) -> set[str]:
    """"raise" -> "rais": the action vocabulary matches word starts, which miss "raising" and "rotating"."""
    return {w[:-1] for w in words if " " not in w and w.endswith("e") and len(w) >= 4}


STATED_WORDS = {a: frozenset(STATED_WORDS.get(a, frozenset()) | _gerund_stems(ACTION_WORDS[a])) for a in ACTION_WORDS}

_STATED_RE = {a: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(ws, key=len, reverse=True)) + ")", re.I)
              for a, ws in STATED_WORDS.items() if ws}
_GAIT_ACTIONS = frozenset({"walk", "jog", "run", "march"})


def stated_actions(caption: str) -> set[str]:
    """The actions a caption gives or implies to some group, through the action vocabulary or the wording above.

    Generous on purpose: it decides which description phrases are inventions, and a phrase kept wrongly costs less
    than an action the caption asked for and lost. Implied actions (stillness, a gait's arm swing, a hop's free leg)
    and actions the joints cannot tell apart (`SAME_POSE`) are always included.
    """
    out = {a for a in ACTION_WORDS if mentions_action(caption, a)}
    out |= {a for a, pat in _STATED_RE.items() if pat.search(caption)}
    out |= {b for a in list(out) for b in SAME_POSE.get(a, ())}
    return out | IMPLIED_ACTIONS | ({"swing"} if out & _GAIT_ACTIONS else set())


def names_stated_action(caption: str) -> bool:
    """Whether a caption gives some action through the wording above (a motion caption outside the grammar)."""
    return any(pat.search(caption) for pat in _STATED_RE.values())
