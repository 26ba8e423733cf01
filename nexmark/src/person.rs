//! Persons (the reference's `PersonGenerator`).

use crate::config::{GeneratorConfig, FIRST_PERSON_ID};
use crate::model::Person;
use crate::rng::Rng;
use crate::strings::{next_extra, next_string};

/// Few states and cities, so that queries find matches on small streams.
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] = ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];

/// A random element of a non-empty list.
fn pick(rng: &mut Rng, list: &[&str]) -> String {
    list.get(rng.index(list.len())).copied().unwrap_or_default().to_owned()
}

/// The person of event number `n` (a person event), stamped `timestamp`.
pub(crate) fn next_person(config: &GeneratorConfig, n: u64, rng: &mut Rng, timestamp: i64) -> Person {
    let id = config.last_base0_person_id(n) + FIRST_PERSON_ID;
    let name = format!("{} {}", pick(rng, &FIRST_NAMES), pick(rng, &LAST_NAMES));
    let email_address = format!("{}@{}.com", next_string(rng, 7), next_string(rng, 5));
    let credit_card = format!("{:04} {:04} {:04} {:04}", rng.below(10_000), rng.below(10_000), rng.below(10_000), rng.below(10_000));
    let city = pick(rng, &US_CITIES);
    let state = pick(rng, &US_STATES);
    let current_size = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
    let extra = next_extra(rng, current_size as u64, config.avg_person_byte_size);
    Person { id, name, email_address, credit_card, city, state, date_time: timestamp, extra }
}

/// A random base-0 person id for event `n`: one of the last
/// `num_active_people` persons, or up to `person_id_lead` persons ahead of
/// the last one (the reference's `nextBase0PersonId`).
pub(crate) fn next_base0_person_id(config: &GeneratorConfig, n: u64, rng: &mut Rng) -> u64 {
    let num_people = config.last_base0_person_id(n) + 1;
    let active = num_people.min(config.num_active_people);
    num_people - active + rng.below(active + config.person_id_lead)
}
