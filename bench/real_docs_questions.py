"""Questions over the real-document folder of ``bench.real_docs``, written by reading the documents.

Each question: (question, gold answers (any one, compared word by word), document id, where: the 1-based page
(PDF) or slide (pptx) as a set, a sheet name (xlsx), or None (no pages)). Unanswerable questions have no gold
answer; several are near misses (the topic is in the folder, the fact is not).
"""

from __future__ import annotations

Where = set[int] | str | None
Question = tuple[str, list[str], str, Where]

BZIP2 = "bzip2-manual.pdf"
TASN1 = "libtasn1.pdf"
FONTS = "fontconfig-user.pdf"
SCAN = "scans/shared-mime-info-spec.pdf"
NINJA = "ninja-manual.html"
DECK = "valgrind-tools.pptx"
DEBIAN = "debian-releases.docx"
CODES = "iso-codes.xlsx"
SERVICES = "services.csv"

QUESTIONS: list[Question] = [
    # bzip2 and libbzip2 manual (text-layer PDF, 38 pages)
    ("Which algorithm does bzip2 use to compress files?", ["Burrows-Wheeler"], BZIP2, {4, 6}),
    ("Which flag forces bzip2 to overwrite existing output files?", ["-f"], BZIP2, {6, 7}),
    ("What does bzcat do?", ["decompresses files to stdout", "decompresses all specified files"], BZIP2, {5, 6}),
    ("Which environment variables does bzip2 read arguments from?", ["BZIP2 and BZIP"], BZIP2, {6}),
    ("At how many bits per byte is random data coded?", ["8.05"], BZIP2, {7}),
    ("Which return value indicates a corrupt compressed file?", ["2"], BZIP2, {7}),
    ("How much memory does bzip2 -s need to decompress any file?", ["2300k", "2300 kbytes"], BZIP2, {7, 8}),
    ("What is the default block size of bzip2?", ["900,000 bytes", "900k"], BZIP2, {8, 9}),
    (
        "How much memory does bunzip2 need to decompress a file compressed with the default 900k block size?",
        ["3700 kbytes", "3700k"],
        BZIP2,
        {8, 9},
    ),
    ("How long is the bit pattern that delimits each compressed block?", ["48-bit", "48"], BZIP2, {9}),
    ("What is the ratio between worst-case and average-case compression time?", ["10:1"], BZIP2, {9, 10}),
    ("Who encouraged the author to look for faster sorting algorithms?", ["Christian von Roques"], BZIP2, {10}),
    ("Who XMLised the documentation of bzip2?", ["Donna Robinson"], BZIP2, {10}),
    (
        "What did bzip2recover versions prior to 1.0.2 use to represent bit positions?",
        ["32-bit integers"],
        BZIP2,
        {10},
    ),
    ("What name does bzip2 give the compressed version of a file?", ["original_name.bz2"], BZIP2, {6}),
    ("Which header file must be included to use libbzip2?", ["bzlib.h"], BZIP2, {12}),
    ("Which error is returned when a request to allocate memory failed?", ["BZ_MEM_ERROR"], BZIP2, {14}),
    ("When was bzip2-0.1 released?", ["August 1997"], BZIP2, {34}),
    ("Which GNU C flag should you specifically not use when compiling bzip2?", ["-funroll-loops"], BZIP2, {36}),
    ("What must BZ_UNIX be set to when building bzip2 on Win32?", ["0"], BZIP2, {35}),
    ("Who published a suffix array construction algorithm?", ["Udi Manber and Gene Myers"], BZIP2, {34}),
    ("How many tests does the Makefile run as part of the build process?", ["six"], BZIP2, {36}),
    # GNU libtasn1 manual (text-layer PDF, 36 pages)
    ("Which utility reads a file with ASN.1 definitions and generates a C array?", ["asn1Parser"], TASN1, {8}),
    ("What is the header file of the libtasn1 library?", ["libtasn1.h"], TASN1, {7}),
    ("What is the main type used in libtasn1?", ["asn1_node"], TASN1, {7}),
    ("Which ASN.1 type does this version of the parser not handle?", ["REAL"], TASN1, {6, 7}),
    ("Which comments are not supported by the ASN.1 parser?", ["C-style"], TASN1, {5}),
    (
        "Which utility generates a DER encoding from ASN.1 definitions and a file with assignments?",
        ["asn1Coding"],
        TASN1,
        {8},
    ),
    ("Which option of asn1Decoding performs a benchmark on decoding?", ["-b", "--benchmark"], TASN1, {10}),
    ("Where should bugs in libtasn1 be reported?", ["help-libtasn1@gnu.org"], TASN1, {8, 9, 10}),
    ("What does the ?LAST name indicate?", ["the last element of a SET OF or SEQUENCE OF"], TASN1, {6}),
    (
        "What does ASN1_MAX_NAME_SIZE give?",
        ["maximum number of characters allowed for an ASN.1 identifier"],
        TASN1,
        {7},
    ),
    ("What does asn1_dup_node return on failure?", ["NULL"], TASN1, {14}),
    (
        "What does asn1_number_of_elements return if the pointer num is NULL?",
        ["ASN1_GENERIC_ERROR"],
        TASN1,
        {13},
    ),
    (
        "Which function creates a structure of type source_name?",
        ["asn1_create_element", "asn1 create element"],
        TASN1,
        {13},
    ),
    (
        "Which function creates a deep copy of an asn1 node into a destination node?",
        ["asn1_copy_node", "asn1 copy node"],
        TASN1,
        {14},
    ),
    ("Which option of asn1Parser sets the array name?", ["-n", "--name"], TASN1, {8}),
    # fontconfig user manual (text-layer PDF, 15 pages, a table of properties)
    ("Which environment variable takes the sum of the desired debug levels?", ["FC_DEBUG"], FONTS, {4}),
    ("How many of the languages named in ISO 639-1 does fontconfig support?", ["122"], FONTS, {4}),
    ("In which format are fontconfig configuration files stored?", ["XML"], FONTS, {4}),
    ("In which external entity does the fontconfig document type definition reside?", ["fonts.dtd"], FONTS, {4}),
    ("What is the current fontconfig cache file version number?", ["7"], FONTS, {5}),
    ("What do glob elements hold?", ["shell-style filename matching patterns"], FONTS, {6}),
    (
        "How does fontconfig perform font matching?",
        ["by measuring the distance from a provided pattern to all of the available fonts"],
        FONTS,
        {2},
    ),
    (
        "For which languages does fontconfig include per-territory orthographies?",
        ["Azerbaijani, Kurdish, Pashto, Tigrinya and Chinese"],
        FONTS,
        {4},
    ),
    ("What does the rescan element hold?", ["<int> element", "int element"], FONTS, {6}),
    ("What debug value monitors which config files are loaded?", ["1024"], FONTS, {4}),
    # Shared MIME-info specification, pages 1-5 scanned (image-only PDF)
    ("Which version of the Shared MIME-info Database specification is this?", ["0.21"], SCAN, {1}),
    ("When was the Shared MIME-info specification last updated?", ["2 October 2018"], SCAN, {1}),
    ("What does the MIME database not store?", ["user preferences"], SCAN, {1}),
    ("Which command must an application run after installing its XML file?", ["update-mime-database"], SCAN, {3}),
    (
        "Which file takes precedence over all other files in the same packages directory?",
        ["Override.xml"],
        SCAN,
        {3},
    ),
    ("How large is the base package alone?", ["700K"], SCAN, {3}),
    ("What is the default glob weight value?", ["50"], SCAN, {4}),
    ("What is the document element of a source XML file named?", ["mime-info"], SCAN, {4}),
    ("Which alias does audio/midi have?", ["audio/x-midi"], SCAN, {5}),
    ("Which elements give experienced users a terse idea of the document contents?", ["acronym"], SCAN, {5}),
    ("Which specification defines the prefixes below which the database is stored?", ["XDG Base Directory"], SCAN, {2}),
    # Ninja manual (HTML)
    ("What is Ninja's distinguishing goal?", ["to be fast"], NINJA, None),
    ("From which project was Ninja born?", ["Chromium"], NINJA, None),
    ("How many source files does the Chromium browser project have?", ["over 30,000", "30,000"], NINJA, None),
    ("Which port does ninja -t browse use by default?", ["8000"], NINJA, None),
    ("What is the default name of a Ninja build file?", ["build.ninja"], NINJA, None),
    (
        "In which file does Ninja keep the log of commands used to build each file?",
        [".ninja_log", "ninja_log"],
        NINJA,
        None,
    ),
    (
        "Which Python module facilitates generating Ninja files?",
        ["ninja_syntax.py", "misc/ninja_syntax.py"],
        NINJA,
        None,
    ),
    ("What depth does the console pool have?", ["1"], NINJA, None),
    (
        "Which tool removes files produced by previous builds that are no longer in the build file?",
        ["cleandead"],
        NINJA,
        None,
    ),
    ("Which special rule name creates aliases for other targets?", ["phony"], NINJA, None),
    ("Which variable declares the minimum Ninja version required?", ["ninja_required_version"], NINJA, None),
    ("On Windows, what does Ninja pass the command string to?", ["CreateProcess"], NINJA, None),
    ("Which gcc flag tells it to output header dependencies?", ["-MD"], NINJA, None),
    # Valgrind tools deck (pptx built from the Valgrind manual's overview)
    ("Which Valgrind tool is a heap profiler that helps your programs use less memory?", ["Massif"], DECK, {3, 5}),
    ("What kind of tool is Helgrind?", ["thread error detector"], DECK, {2, 5}),
    ("Which Valgrind tool is the default?", ["Memcheck"], DECK, {6}),
    ("Under which license is Valgrind distributed?", ["GNU General Public License"], DECK, {1}),
    ("What is BBV?", ["experimental SimPoint basic block vector generator"], DECK, {4, 5}),
    ("Which Valgrind tool does no analysis or instrumentation?", ["Nulgrind"], DECK, {4}),
    ("How is Valgrind built?", ["./configure, make, make install"], DECK, {1}),
    ("Which option dictates which Valgrind tool to run?", ["--tool"], DECK, {6}),
    (
        "What does DHAT help you understand?",
        ["issues of block lifetimes, block utilisation, and layout inefficiencies"],
        DECK,
        {3, 5},
    ),
    ("What kind of profiler is Callgrind?", ["call-graph generating cache"], DECK, {3, 5}),
    # Debian release history (docx: a paragraph and a table)
    ("When was Debian Sarge released?", ["2005-06-06"], DEBIAN, None),
    ("What is the codename of Debian 7?", ["Wheezy"], DEBIAN, None),
    ("When did Debian Squeeze reach its end of life?", ["2014-05-31"], DEBIAN, None),
    ("Which Debian version is codenamed Bookworm?", ["12"], DEBIAN, None),
    ("When was Debian 10 released?", ["2019-07-06"], DEBIAN, None),
    ("When does LTS support for Debian Bullseye end?", ["2026-08-31"], DEBIAN, None),
    ("What is the codename of Debian 3.0?", ["Woody"], DEBIAN, None),
    ("When was Debian Hamm released?", ["1998-07-24"], DEBIAN, None),
    ("When does extended LTS for Debian Stretch end?", ["2027-06-30"], DEBIAN, None),
    ("What was the codename of Debian 1.1?", ["Buzz"], DEBIAN, None),
    # ISO codes workbook (xlsx: a Countries sheet and a Currencies sheet)
    ("What is the alpha-3 code of Portugal?", ["PRT"], CODES, "Countries"),
    ("What is the numeric code of Japan?", ["392"], CODES, "Countries"),
    ("What is the official name of Bolivia?", ["Plurinational State of Bolivia"], CODES, "Countries"),
    ("Which country has the alpha-2 code NZ?", ["New Zealand"], CODES, "Countries"),
    ("What is the alpha-2 code of Kenya?", ["KE"], CODES, "Countries"),
    ("Which currency has the code CHF?", ["Swiss Franc"], CODES, "Currencies"),
    ("What is the numeric code of the Swiss Franc?", ["756"], CODES, "Currencies"),
    ("What is the code of the Brazilian Real?", ["BRL"], CODES, "Currencies"),
    ("What is the official name of Norway?", ["Kingdom of Norway"], CODES, "Countries"),
    ("Which currency has the code INR?", ["Indian Rupee"], CODES, "Currencies"),
    # Network services (csv from /etc/services)
    ("Which port does ssh use?", ["22"], SERVICES, None),
    ("Which port does the domain service use?", ["53"], SERVICES, None),
    ("What is the alias of the smtp service?", ["mail"], SERVICES, None),
    ("Which port does imaps use?", ["993"], SERVICES, None),
    ("Which protocol does tftp use?", ["udp"], SERVICES, None),
    ("Which port does the whois service use?", ["43"], SERVICES, None),
    ("Which service uses port 3306?", ["mysql"], SERVICES, None),
    ("Which port does ldap use?", ["389"], SERVICES, None),
    ("What is the tacacs service?", ["Login Host Protocol"], SERVICES, None),
    ("Which port does the rsync service use?", ["873"], SERVICES, None),
]

UNANSWERABLE: list[str] = [
    "What is the boiling point of mercury?",
    "Who won the 1998 World Cup final?",
    "What is the population of Portugal?",
    "When was Debian 16 released?",
    "What is the default compression level of gzip?",
    "Which port does the Kubernetes API server listen on?",
    "How much memory does Massif need on Windows?",
    "Who is the current maintainer of the Ninja package in Debian?",
]
