//! The PGP word list (Juola and Zimmermann, 1995): a hash read aloud as
//! words, as the IANA root-zone KSK ceremonies read their hashes. Byte
//! values map to words from two lists: a byte at an even position (0, 2,
//! 4, ...) to a two-syllable word, a byte at an odd position to a
//! three-syllable one. Listener and reader therefore notice a dropped,
//! repeated or swapped word: it comes from the wrong list.
//!
//! The list is a public fact. `WORDS[b]` is `[even word, odd word]` for
//! byte value `b`, spelled (capitals included) as published.

/// `[two-syllable word for even positions, three-syllable word for odd positions]`, by byte value.
pub const WORDS: [[&str; 2]; 256] = [
    ["aardvark", "adroitness"],   // 00
    ["absurd", "adviser"],        // 01
    ["accrue", "aftermath"],      // 02
    ["acme", "aggregate"],        // 03
    ["adrift", "alkali"],         // 04
    ["adult", "almighty"],        // 05
    ["afflict", "amulet"],        // 06
    ["ahead", "amusement"],       // 07
    ["aimless", "antenna"],       // 08
    ["Algol", "applicant"],       // 09
    ["allow", "Apollo"],          // 0a
    ["alone", "armistice"],       // 0b
    ["ammo", "article"],          // 0c
    ["ancient", "asteroid"],      // 0d
    ["apple", "Atlantic"],        // 0e
    ["artist", "atmosphere"],     // 0f
    ["assume", "autopsy"],        // 10
    ["Athens", "Babylon"],        // 11
    ["atlas", "backwater"],       // 12
    ["Aztec", "barbecue"],        // 13
    ["baboon", "belowground"],    // 14
    ["backfield", "bifocals"],    // 15
    ["backward", "bodyguard"],    // 16
    ["banjo", "bookseller"],      // 17
    ["beaming", "borderline"],    // 18
    ["bedlamp", "bottomless"],    // 19
    ["beehive", "Bradbury"],      // 1a
    ["beeswax", "bravado"],       // 1b
    ["befriend", "Brazilian"],    // 1c
    ["Belfast", "breakaway"],     // 1d
    ["berserk", "Burlington"],    // 1e
    ["billiard", "businessman"],  // 1f
    ["bison", "butterfat"],       // 20
    ["blackjack", "Camelot"],     // 21
    ["blockade", "candidate"],    // 22
    ["blowtorch", "cannonball"],  // 23
    ["bluebird", "Capricorn"],    // 24
    ["bombast", "caravan"],       // 25
    ["bookshelf", "caretaker"],   // 26
    ["brackish", "celebrate"],    // 27
    ["breadline", "cellulose"],   // 28
    ["breakup", "certify"],       // 29
    ["brickyard", "chambermaid"], // 2a
    ["briefcase", "Cherokee"],    // 2b
    ["Burbank", "Chicago"],       // 2c
    ["button", "clergyman"],      // 2d
    ["buzzard", "coherence"],     // 2e
    ["cement", "combustion"],     // 2f
    ["chairlift", "commando"],    // 30
    ["chatter", "company"],       // 31
    ["checkup", "component"],     // 32
    ["chisel", "concurrent"],     // 33
    ["choking", "confidence"],    // 34
    ["chopper", "conformist"],    // 35
    ["Christmas", "congregate"],  // 36
    ["clamshell", "consensus"],   // 37
    ["classic", "consulting"],    // 38
    ["classroom", "corporate"],   // 39
    ["cleanup", "corrosion"],     // 3a
    ["clockwork", "councilman"],  // 3b
    ["cobra", "crossover"],       // 3c
    ["commence", "crucifix"],     // 3d
    ["concert", "cumbersome"],    // 3e
    ["cowbell", "customer"],      // 3f
    ["crackdown", "Dakota"],      // 40
    ["cranky", "decadence"],      // 41
    ["crowfoot", "December"],     // 42
    ["crucial", "decimal"],       // 43
    ["crumpled", "designing"],    // 44
    ["crusade", "detector"],      // 45
    ["cubic", "detergent"],       // 46
    ["dashboard", "determine"],   // 47
    ["deadbolt", "dictator"],     // 48
    ["deckhand", "dinosaur"],     // 49
    ["dogsled", "direction"],     // 4a
    ["dragnet", "disable"],       // 4b
    ["drainage", "disbelief"],    // 4c
    ["dreadful", "disruptive"],   // 4d
    ["drifter", "distortion"],    // 4e
    ["dropper", "document"],      // 4f
    ["drumbeat", "embezzle"],     // 50
    ["drunken", "enchanting"],    // 51
    ["Dupont", "enrollment"],     // 52
    ["dwelling", "enterprise"],   // 53
    ["eating", "equation"],       // 54
    ["edict", "equipment"],       // 55
    ["egghead", "escapade"],      // 56
    ["eightball", "Eskimo"],      // 57
    ["endorse", "everyday"],      // 58
    ["endow", "examine"],         // 59
    ["enlist", "existence"],      // 5a
    ["erase", "exodus"],          // 5b
    ["escape", "fascinate"],      // 5c
    ["exceed", "filament"],       // 5d
    ["eyeglass", "finicky"],      // 5e
    ["eyetooth", "forever"],      // 5f
    ["facial", "fortitude"],      // 60
    ["fallout", "frequency"],     // 61
    ["flagpole", "gadgetry"],     // 62
    ["flatfoot", "Galveston"],    // 63
    ["flytrap", "getaway"],       // 64
    ["fracture", "glossary"],     // 65
    ["framework", "gossamer"],    // 66
    ["freedom", "graduate"],      // 67
    ["frighten", "gravity"],      // 68
    ["gazelle", "guitarist"],     // 69
    ["Geiger", "hamburger"],      // 6a
    ["glitter", "Hamilton"],      // 6b
    ["glucose", "handiwork"],     // 6c
    ["goggles", "hazardous"],     // 6d
    ["goldfish", "headwaters"],   // 6e
    ["gremlin", "hemisphere"],    // 6f
    ["guidance", "hesitate"],     // 70
    ["hamlet", "hideaway"],       // 71
    ["highchair", "holiness"],    // 72
    ["hockey", "hurricane"],      // 73
    ["indoors", "hydraulic"],     // 74
    ["indulge", "impartial"],     // 75
    ["inverse", "impetus"],       // 76
    ["involve", "inception"],     // 77
    ["island", "indigo"],         // 78
    ["jawbone", "inertia"],       // 79
    ["keyboard", "infancy"],      // 7a
    ["kickoff", "inferno"],       // 7b
    ["kiwi", "informant"],        // 7c
    ["klaxon", "insincere"],      // 7d
    ["locale", "insurgent"],      // 7e
    ["lockup", "integrate"],      // 7f
    ["merit", "intention"],       // 80
    ["minnow", "inventive"],      // 81
    ["miser", "Istanbul"],        // 82
    ["Mohawk", "Jamaica"],        // 83
    ["mural", "Jupiter"],         // 84
    ["music", "leprosy"],         // 85
    ["necklace", "letterhead"],   // 86
    ["Neptune", "liberty"],       // 87
    ["newborn", "maritime"],      // 88
    ["nightbird", "matchmaker"],  // 89
    ["Oakland", "maverick"],      // 8a
    ["obtuse", "Medusa"],         // 8b
    ["offload", "megaton"],       // 8c
    ["optic", "microscope"],      // 8d
    ["orca", "microwave"],        // 8e
    ["payday", "midsummer"],      // 8f
    ["peachy", "millionaire"],    // 90
    ["pheasant", "miracle"],      // 91
    ["physique", "misnomer"],     // 92
    ["playhouse", "molasses"],    // 93
    ["Pluto", "molecule"],        // 94
    ["preclude", "Montana"],      // 95
    ["prefer", "monument"],       // 96
    ["preshrunk", "mosquito"],    // 97
    ["printer", "narrative"],     // 98
    ["prowler", "nebula"],        // 99
    ["pupil", "newsletter"],      // 9a
    ["puppy", "Norwegian"],       // 9b
    ["python", "October"],        // 9c
    ["quadrant", "Ohio"],         // 9d
    ["quiver", "onlooker"],       // 9e
    ["quota", "opulent"],         // 9f
    ["ragtime", "Orlando"],       // a0
    ["ratchet", "outfielder"],    // a1
    ["rebirth", "Pacific"],       // a2
    ["reform", "pandemic"],       // a3
    ["regain", "Pandora"],        // a4
    ["reindeer", "paperweight"],  // a5
    ["rematch", "paragon"],       // a6
    ["repay", "paragraph"],       // a7
    ["retouch", "paramount"],     // a8
    ["revenge", "passenger"],     // a9
    ["reward", "pedigree"],       // aa
    ["rhythm", "Pegasus"],        // ab
    ["ribcage", "penetrate"],     // ac
    ["ringbolt", "perceptive"],   // ad
    ["robust", "performance"],    // ae
    ["rocker", "pharmacy"],       // af
    ["ruffled", "phonetic"],      // b0
    ["sailboat", "photograph"],   // b1
    ["sawdust", "pioneer"],       // b2
    ["scallion", "pocketful"],    // b3
    ["scenic", "politeness"],     // b4
    ["scorecard", "positive"],    // b5
    ["Scotland", "potato"],       // b6
    ["seabird", "processor"],     // b7
    ["select", "provincial"],     // b8
    ["sentence", "proximate"],    // b9
    ["shadow", "puberty"],        // ba
    ["shamrock", "publisher"],    // bb
    ["showgirl", "pyramid"],      // bc
    ["skullcap", "quantity"],     // bd
    ["skydive", "racketeer"],     // be
    ["slingshot", "rebellion"],   // bf
    ["slowdown", "recipe"],       // c0
    ["snapline", "recover"],      // c1
    ["snapshot", "repellent"],    // c2
    ["snowcap", "replica"],       // c3
    ["snowslide", "reproduce"],   // c4
    ["solo", "resistor"],         // c5
    ["southward", "responsive"],  // c6
    ["soybean", "retraction"],    // c7
    ["spaniel", "retrieval"],     // c8
    ["spearhead", "retrospect"],  // c9
    ["spellbind", "revenue"],     // ca
    ["spheroid", "revival"],      // cb
    ["spigot", "revolver"],       // cc
    ["spindle", "sandalwood"],    // cd
    ["spyglass", "sardonic"],     // ce
    ["stagehand", "Saturday"],    // cf
    ["stagnate", "savagery"],     // d0
    ["stairway", "scavenger"],    // d1
    ["standard", "sensation"],    // d2
    ["stapler", "sociable"],      // d3
    ["steamship", "souvenir"],    // d4
    ["sterling", "specialist"],   // d5
    ["stockman", "speculate"],    // d6
    ["stopwatch", "stethoscope"], // d7
    ["stormy", "stupendous"],     // d8
    ["sugar", "supportive"],      // d9
    ["surmount", "surrender"],    // da
    ["suspense", "suspicious"],   // db
    ["sweatband", "sympathy"],    // dc
    ["swelter", "tambourine"],    // dd
    ["tactics", "telephone"],     // de
    ["talon", "therapist"],       // df
    ["tapeworm", "tobacco"],      // e0
    ["tempest", "tolerance"],     // e1
    ["tiger", "tomorrow"],        // e2
    ["tissue", "torpedo"],        // e3
    ["tonic", "tradition"],       // e4
    ["topmost", "travesty"],      // e5
    ["tracker", "trombonist"],    // e6
    ["transit", "truncated"],     // e7
    ["trauma", "typewriter"],     // e8
    ["treadmill", "ultimate"],    // e9
    ["Trojan", "undaunted"],      // ea
    ["trouble", "underfoot"],     // eb
    ["tumor", "unicorn"],         // ec
    ["tunnel", "unify"],          // ed
    ["tycoon", "universe"],       // ee
    ["uncut", "unravel"],         // ef
    ["unearth", "upcoming"],      // f0
    ["unwind", "vacancy"],        // f1
    ["uproot", "vagabond"],       // f2
    ["upset", "vertigo"],         // f3
    ["upshot", "Virginia"],       // f4
    ["vapor", "visitor"],         // f5
    ["village", "vocalist"],      // f6
    ["virus", "voyager"],         // f7
    ["Vulcan", "warranty"],       // f8
    ["waffle", "Waterloo"],       // f9
    ["wallet", "whimsical"],      // fa
    ["watchword", "Wichita"],     // fb
    ["wayside", "Wilmington"],    // fc
    ["willow", "Wyoming"],        // fd
    ["woodlark", "yesteryear"],   // fe
    ["Zulu", "Yucatan"],          // ff
];

/// The words for `bytes`, alternating the even and the odd list.
pub fn words(bytes: &[u8]) -> Vec<&'static str> {
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| WORDS[*b as usize][i % 2])
        .collect()
}

/// The words joined by single spaces.
pub fn to_phrase(bytes: &[u8]) -> String {
    words(bytes).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::collections::HashSet;

    #[test]
    fn five_hundred_twelve_distinct_words() {
        let all: HashSet<String> = WORDS
            .iter()
            .flat_map(|pair| pair.iter().map(|w| w.to_ascii_lowercase()))
            .collect();
        assert_eq!(all.len(), 512);
        for pair in WORDS.iter() {
            for w in pair {
                assert!(w.bytes().all(|b| b.is_ascii_alphabetic()), "{w}");
            }
        }
    }

    #[test]
    fn whole_list_matches_its_published_hash() {
        // SHA-256 of the even list, then the odd list, one word per line with
        // no final newline, as another independent copy of the list pins it.
        let even: Vec<&str> = WORDS.iter().map(|p| p[0]).collect();
        let odd: Vec<&str> = WORDS.iter().map(|p| p[1]).collect();
        let text = format!("{}\n{}", even.join("\n"), odd.join("\n"));
        assert_eq!(
            hex::encode(Sha256::digest(text.as_bytes())),
            "e9b7b0052233a74aa56724ed3f79c272036aed68d8f4c0856e833c8043b9ac62"
        );
    }

    #[test]
    fn known_vector() {
        // the worked example of the PGP word list's own documentation
        let bytes = hex::decode("E58294F2E9A227486E8B061B31CC528FD7FA3F19").unwrap();
        assert_eq!(
            words(&bytes).join(" "),
            "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa \
             afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless"
        );
        assert_eq!(to_phrase(&[0x00, 0xff, 0x09]), "aardvark Yucatan Algol");
    }
}
