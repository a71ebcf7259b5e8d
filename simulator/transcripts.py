"""Reference sentences and hypotheses that carry an exact number of word errors.

The simulator decides how many substitutions (S), deletions (D) and insertions (I) an
utterance has; this module writes a reference and a hypothesis whose Levenshtein alignment
gives those counts, so the WER the collector measures equals the simulated truth.

The construction: substituted and inserted words are drawn from words that do not occur in
the reference, so hypothesis and reference share only the kept words. Between two kept
words an edited run costs max(S + D, S + I), which is S + D + I when the run does not hold
both a deletion and an insertion, so insertions go only into gaps whose run holds no
deletion. A reference that repeats a word can still let the aligner match a kept word to
its twin and merge runs; each candidate is therefore scored with the same aligner jiwer
uses (rapidfuzz Levenshtein opcodes) and redrawn until the total matches. The returned
counts are always the aligner's, so they are exactly what a scorer will measure.

Every word is plain lowercase ASCII that the `whisper_en` normalizer leaves unchanged (no
number words, ordinals, fillers, British spellings or abbreviations), which
`tests/simulator` checks for the whole vocabulary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

GENERAL_VOCABULARY: dict[str, tuple[str, ...]] = {
    "en": tuple(
        """please call the bank about my account balance and send a transfer today can you check this
        order for me i need help with new card tomorrow morning set reminder play music turn on lights
        in kitchen what is weather like where nearest store open late tonight book appointment doctor
        next week cancel subscription update address thanks very much good afternoon hello yes no maybe
        later right now great sounds fine wait hold sorry could repeat that again slowly would speak
        someone problem phone number email password reset login app price delivery package arrived
        damaged return schedule meeting calendar invite team report message text mom dad home work
        office car drive traffic route map direction left straight street avenue city airport flight
        hotel rental booking change seat window aisle""".split()
    ),
    "es": tuple(
        """hola buenos dias quiero hablar con alguien sobre mi cuenta por favor necesito ayuda tarjeta
        nueva pedido devolucion gracias manana tarde noche casa trabajo llamar enviar mensaje precio
        tienda abierta cerca donde esta puedo pagar factura problema telefono correo clave cambiar
        direccion cita medico semana proxima cancelar suscripcion musica luces cocina tiempo""".split()
    ),
    "de": tuple(
        """hallo guten morgen ich brauche hilfe mit meinem konto bitte neue karte bestellung rechnung
        danke heute abend zuhause arbeit anrufen nachricht senden preis laden offen wo ist kann
        bezahlen problem telefon passwort adresse termin arzt woche absagen abonnement musik licht
        wetter kalender besprechung paket lieferung""".split()
    ),
}

# Each tenant's domain terms: the words its users say that a general model finds harder.
DOMAIN_TERMS: dict[str, tuple[str, ...]] = {
    "acme-bank": ("mortgage", "routing", "overdraft", "escrow", "wire", "statement"),
    "medicorp": ("prescription", "cardiology", "dosage", "ibuprofen", "referral", "pharmacy"),
    "retail-co": ("refund", "shipping", "coupon", "checkout", "warranty", "tracking"),
    "voice-assist": ("thermostat", "playlist", "timer", "volume", "skip", "doorbell"),
    "callcenter-x": ("agent", "supervisor", "ticket", "escalate", "callback", "billing"),
}

# Product names launched during `new-product-names`, each with the way the model mishears it.
NEW_PRODUCT_TERMS: dict[str, str] = {
    "zorvex": "sorvex",
    "quintara": "quintera",
    "lumetrix": "lumetrics",
    "kaldora": "caldora",
    "brivanta": "brivanti",
}


def vocabulary_for(language: str) -> tuple[str, ...]:
    """The general vocabulary of a BCP 47 language tag ("en-US" -> English)."""
    return GENERAL_VOCABULARY.get(language.split("-")[0].lower(), GENERAL_VOCABULARY["en"])


@dataclass(frozen=True)
class Utterance:
    reference: str
    hypothesis: str
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def make_reference(
    rng: random.Random,
    n_words: int,
    vocabulary: tuple[str, ...],
    terms: tuple[str, ...] = (),
    term_rate: float = 0.0,
) -> list[str]:
    """`n_words` words; each is a domain term with probability `term_rate`."""
    if n_words < 1:
        raise ValueError(f"n_words: must be >= 1, got {n_words}")
    words = rng.choices(vocabulary, k=n_words)
    if terms and term_rate > 0:
        for i in range(n_words):
            if rng.random() < term_rate:
                words[i] = rng.choice(terms)
    return words


def _foreign_word(rng: random.Random, vocabulary: tuple[str, ...], exclude: set[str]) -> str:
    for _ in range(64):
        word = rng.choice(vocabulary)
        if word not in exclude:
            return word
    # A reference that uses most of the vocabulary: fall back to a word that cannot occur in it.
    return "zzfiller"


def aligned_counts(reference: list[str], hypothesis: list[str]) -> tuple[int, int, int]:
    """(S, D, I) of the minimum-edit alignment, as jiwer computes it."""
    subs = dels = ins = 0
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(reference, hypothesis):
        if tag == "replace":
            subs += i2 - i1
        elif tag == "delete":
            dels += i2 - i1
        elif tag == "insert":
            ins += j2 - j1
    return subs, dels, ins


def corrupt(
    rng: random.Random,
    reference: list[str],
    substitutions: int,
    deletions: int,
    insertions: int,
    vocabulary: tuple[str, ...],
    forced: dict[int, str] | None = None,
    attempts: int = 8,
) -> Utterance:
    """A hypothesis of `reference` with the given edit counts (see the module docstring).

    `forced` maps reference positions to the word the model hears instead (a misrecognized
    product name); those count as substitutions on top of `substitutions`. Counts that do not
    fit the utterance are clipped; the returned counts are the aligner's on the result.
    """
    for name, value in (("substitutions", substitutions), ("deletions", deletions), ("insertions", insertions)):
        if value < 0:
            raise ValueError(f"{name}: must be >= 0, got {value}")
    best: Utterance | None = None
    for _ in range(max(1, attempts)):
        hyp, target = _place_edits(rng, reference, substitutions, deletions, insertions, vocabulary, forced)
        subs, dels, ins = aligned_counts(reference, hyp)
        candidate = Utterance(" ".join(reference), " ".join(hyp), subs, dels, ins, len(reference))
        if best is None or abs(candidate.errors - target) < abs(best.errors - target):
            best = candidate
        if candidate.errors == target:
            break
    assert best is not None
    return best


def _place_edits(
    rng: random.Random,
    reference: list[str],
    substitutions: int,
    deletions: int,
    insertions: int,
    vocabulary: tuple[str, ...],
    forced: dict[int, str] | None,
) -> tuple[list[str], int]:
    """One placement of the edits: (hypothesis words, number of edits placed)."""
    n = len(reference)
    exclude = set(reference)
    forced = dict(forced or {})
    free = [i for i in range(n) if i not in forced]
    free = rng.sample(free, min(len(free), substitutions + deletions))
    deletions = min(deletions, len(free))
    deleted = set(free[:deletions])
    substitutions = min(substitutions, len(free) - deletions)
    substituted = {i: _foreign_word(rng, vocabulary, exclude) for i in free[deletions:deletions + substitutions]}
    for i, word in forced.items():
        if word in exclude:
            raise ValueError(f"forced[{i}]: the replacement {word!r} occurs in the reference")
        substituted[i] = word

    kept = [i not in deleted and i not in substituted for i in range(n)]

    def run_has_deletion(gap: int) -> bool:
        # Gap g sits before word g; walk the edited run on both sides of it.
        j = gap - 1
        while j >= 0 and not kept[j]:
            if j in deleted:
                return True
            j -= 1
        j = gap
        while j < n and not kept[j]:
            if j in deleted:
                return True
            j += 1
        return False

    gaps = [g for g in range(n + 1) if not run_has_deletion(g)]
    inserted: dict[int, list[str]] = {}
    applied_insertions = 0
    if gaps:
        for _ in range(insertions):
            inserted.setdefault(rng.choice(gaps), []).append(_foreign_word(rng, vocabulary, exclude))
            applied_insertions += 1

    hypothesis: list[str] = []
    for i in range(n + 1):
        hypothesis.extend(inserted.get(i, ()))
        if i == n:
            break
        if i in deleted:
            continue
        hypothesis.append(substituted.get(i, reference[i]))
    return hypothesis, len(substituted) + len(deleted) + applied_insertions
