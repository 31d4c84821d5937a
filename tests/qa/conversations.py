"""A conversational test set: two- and three-turn conversations over the seed article, a PDF handbook, a docx memo
with a table, a Markdown page of parallel facts and a build-server note. About half of the follow-ups are
elliptical ("And when?", "What about Lisbon?", "By whom?"), the rest lean on a pronoun or ask afresh.

Each turn is (question, expected): the answer is right when ``expected`` (or one of its ``|``-separated parts)
occurs in it, case-insensitive.
Written by hand for this project from the documents built in ``build_corpus``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

OFFICES = """# Regional offices

The Berlin office opened in 2015. The Berlin office has 40 employees and is led by Jonas Weber.

The Lisbon office opened in 2019. The Lisbon office has 25 employees and is led by Marta Sousa.

The Toronto office opened in 2021. The Toronto office has 18 employees and is led by Grace Liu.

Each office holds a town hall on the first Monday of the month, because staff asked for a fixed day.
"""

FALCON = (
    "Falcon build server handbook.\n\n"
    "The Falcon build server answers on port 8443. Deployments happen every Tuesday at 14:00. "
    "The on-call engineer this quarter is Priya Raman.\n"
)

CONVERSATIONS: list[list[tuple[str, str]]] = [
    # the seed article
    [("Where will the drill be held?", "Russian military research center"), ("And when?", "this month")],
    [("When will the drill be held?", "this month"), ("Where?", "Russian military research center")],
    [("Who is the Chinese Foreign Minister?", "Wang Yi"), ("What did he say the system threatens?", "equilibrium")],
    [("What is THAAD?", "missile defense system"), ("What approach does it use?", "hit-to-kill")],
    [("When did the conflict between North and South Korea last?", "1950-1953"), ("How did it end?", "truce")],
    [("Which newspaper made the drill public?", "China Daily"), ("Citing whom?", "defense ministry")],
    [("What does North Korea begin on Friday?", "Workers"), ("And when does it begin?", "Friday")],
    [
        ("Who declared that war and chaos would not be allowed on the Korean peninsula?", "Xi Jinping"),
        ("What is his title?", "President"),
    ],
    [
        ("What did China decide to hold with Russia?", "anti-missile drill"),
        ("What will it help the militaries with?", "familiarize|command structures"),
    ],
    [
        ("What do the Chinese fear about the THAAD radar?", "extends into China"),
        ("And what about the system threatening equilibrium, who said that?", "Wang Yi"),
    ],
    # the PDF handbook
    [
        ("Who was the commander of the first expedition?", "Amara Okafor"),
        ("How many days did she spend on the station?", "211"),
    ],
    [("How many days did Amara Okafor spend on the station?", "211"), ("What was her job before?", "test pilot")],
    [("How long is the main truss?", "one hundred and nine metres"), ("And the power?", "120 kilowatts")],
    [("How much power do the solar arrays produce?", "120 kilowatts"), ("How many wings are there?", "eight")],
    [
        ("What are the batteries made of?", "lithium iron phosphate"),
        ("What do they carry the station through?", "eclipse"),
    ],
    [("Between which years was Kestrel assembled?", "2031"), ("By whom?", "eleven space agencies")],
    [("How many people live aboard?", "six"), ("Who was the first commander?", "Amara Okafor")],
    [("How is water recycled?", "vapour compression distillation"), ("And the power?", "solar array")],
    [("What powers the station?", "solar array wings"), ("How much do they produce?", "120 kilowatts")],
    [("Where was Kestrel assembled?", "low Earth orbit"), ("When?", "2031")],
    # the docx memo's table
    [("When does the Legal team move?", "6 April 2027"), ("What about Finance?", "13 April 2027")],
    [("Which floor will Engineering be on?", "2"), ("And Legal?", "5")],
    [("When does Engineering move?", "23 March 2027"), ("And which floor?", "2")],
    [("Which floor will Finance be on?", "4"), ("When does it move?", "13 April 2027")],
    [("What time do the movers arrive?", "8:00"), ("How many teams will move?", "three")],
    [
        ("When does the Finance team move?", "13 April 2027"),
        ("And Engineering?", "23 March 2027"),
        ("Which floor?", "2"),
    ],
    # the Markdown page of parallel facts
    [("When did the Berlin office open?", "2015"), ("What about Lisbon?", "2019"), ("And Toronto?", "2021")],
    [("How many employees does the Lisbon office have?", "25"), ("Who leads it?", "Marta Sousa")],
    [("Who leads the Toronto office?", "Grace Liu"), ("And the Berlin office?", "Jonas Weber")],
    [("When does each office hold a town hall?", "first Monday"), ("Why?", "staff asked for a fixed day")],
    [("How many employees does the Berlin office have?", "40"), ("What about Toronto?", "18")],
    [("Who leads the Lisbon office?", "Marta Sousa"), ("When did it open?", "2019")],
    [("When did the Toronto office open?", "2021"), ("How many employees?", "18")],
    [("Which office opened in 2019?", "Lisbon"), ("Who leads it?", "Marta Sousa")],
    [
        ("Who leads the Berlin office?", "Jonas Weber"),
        ("How about Lisbon?", "Marta Sousa"),
        ("And how many employees does it have?", "25"),
    ],
    # the build-server note
    [("Which port does the Falcon build server answer on?", "8443"), ("When do deployments happen?", "Tuesday|14:00")],
    [("When do deployments happen?", "Tuesday at 14:00"), ("Who is on call?", "Priya Raman")],
    [("Who is the on-call engineer?", "Priya Raman"), ("Which port does the build server answer on?", "8443")],
    [("What port does the Falcon server use?", "8443"), ("And when are deployments?", "Tuesday|14:00")],
    [("When do deployments happen?", "Tuesday"), ("At what time?", "14:00")],
    [("Who is the on-call engineer this quarter?", "Priya Raman"), ("Of which server?", "Falcon")],
]

# written after the follow-up rules were tuned on CONVERSATIONS, and never used to tune them: the honest number
HELD_OUT: list[list[tuple[str, str]]] = [
    [("Who reported that the drill will be the first of its kind?", "state-run media"), ("When?", "Thursday")],
    [
        ("What did the foreign ministers urge Washington and Seoul to cease?", "deployment"),
        ("Which ministers?", "Russian and Chinese"),
    ],
    [("How many years have the two Koreas technically been at war?", "63"), ("Why?", "truce")],
    [("What does North Korea regularly threaten to destroy?", "South"), ("And who else?", "U.S.")],
    [("How long did Amara Okafor stay on the station?", "211 days"), ("What was her background?", "test pilot")],
    [
        ("What carries the station through the eclipse?", "Batteries"),
        ("What are they made of?", "lithium iron phosphate"),
    ],
    [("How many space agencies built Kestrel?", "eleven"), ("In which orbit?", "low Earth orbit")],
    [("Which floor will the Legal team be on?", "5"), ("And the Finance team?", "4")],
    [("When do movers arrive?", "8:00"), ("How many teams move?", "three")],
    [("When does the Engineering team move?", "23 March 2027"), ("What about Legal?", "6 April 2027")],
    [("Who leads the Berlin office?", "Jonas Weber"), ("When did it open?", "2015")],
    [("When did the Lisbon office open?", "2019"), ("And how many employees does it have?", "25")],
    [("How many employees does the Toronto office have?", "18"), ("And who leads it?", "Grace Liu")],
    [("Which office is led by Grace Liu?", "Toronto"), ("When did it open?", "2021")],
    [("On which port does the Falcon build server answer?", "8443"), ("And deployments?", "Tuesday|14:00")],
    [("What happens every Tuesday at 14:00?", "Deployments"), ("On which server?", "Falcon")],
]


def build_corpus(folder: Path) -> Path:
    """The documents the conversations are about, written into ``folder``."""
    from tests.conftest import SEED_FILE
    from tests.factory import make_moves_docx, make_pdf

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED_FILE, folder / SEED_FILE.name)
    make_pdf(folder / "kestrel.pdf", title="Kestrel Station Handbook")
    make_moves_docx(folder / "moves.docx")
    (folder / "offices.md").write_text(OFFICES, encoding="utf-8")
    (folder / "falcon.txt").write_text(FALCON, encoding="utf-8")
    return folder


def run(service, conversations: list[list[tuple[str, str]]] = CONVERSATIONS) -> dict:
    """Play every conversation (each turn sees the earlier turns as the chat sends them); count right answers."""
    from docqa.qa.followup import Turn

    first = follow = first_ok = follow_ok = 0
    wrong: list[str] = []
    for conv in conversations:
        history: list[Turn] = []
        for i, (q, want) in enumerate(conv):
            ans = service.answer(q, history=history)
            ok = ans.found and any(w.lower() in ans.text.lower() for w in want.split("|"))
            if i == 0:
                first, first_ok = first + 1, first_ok + ok
            else:
                follow, follow_ok = follow + 1, follow_ok + ok
                if not ok:
                    wrong.append(f"{conv[i - 1][0]} -> {q} (read as {ans.read_as!r}): {ans.text!r}, want {want!r}")
            history.append(Turn(ans.read_as or q, ans.text if ans.found else ""))
    return {
        "first": first,
        "first_right": first_ok,
        "follow_ups": follow,
        "follow_ups_right": follow_ok,
        "wrong": wrong,
    }
