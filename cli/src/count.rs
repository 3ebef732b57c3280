//! Whole numbers on the command line (`--max-retries 3`): a negative or oversized value is
//! reported with what the flag accepts. The flags that take them also accept a leading `-`, so
//! `-5` reaches this check instead of clap's "unexpected argument '-5' found".

use std::fmt::Display;

/// A value parser for a whole number of type `T`, `min` or more.
pub(crate) fn at_least<T>(min: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync
where
    T: TryFrom<i128> + TryInto<i128> + Copy + Display + Send + Sync + 'static,
{
    let floor: i128 = min.try_into().unwrap_or(0);
    move |text| {
        let text = text.trim();
        let expected = || format!("expected a whole number, {min} or more");
        let value: i128 = text
            .parse()
            .map_err(|_| format!("`{text}` is not a whole number; {}", expected()))?;
        if value < floor {
            let what = if value < 0 {
                "is negative"
            } else {
                "is too small"
            };
            return Err(format!("{value} {what}; {}", expected()));
        }
        T::try_from(value)
            .map_err(|_| format!("{value} is too large; the largest is {}", largest::<T>()))
    }
}

/// The largest value of `T`, found by halving (works for every unsigned and signed width).
fn largest<T: TryFrom<i128>>() -> i128 {
    let (mut low, mut high) = (0i128, i128::MAX);
    while low < high {
        let mid = low + (high - low) / 2 + 1;
        if T::try_from(mid).is_ok() {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_range_and_explains_the_rest() {
        let retries = at_least(0u32);
        assert_eq!(retries("3"), Ok(3));
        assert_eq!(
            retries("-5").unwrap_err(),
            "-5 is negative; expected a whole number, 0 or more"
        );
        assert_eq!(
            retries("5000000000").unwrap_err(),
            "5000000000 is too large; the largest is 4294967295"
        );
        assert!(retries("three").unwrap_err().contains("not a whole number"));
        let events = at_least(1u64);
        assert!(events("0").unwrap_err().starts_with("0 is too small"));
        assert_eq!(largest::<u16>(), 65_535);
        assert_eq!(largest::<u64>(), i128::from(u64::MAX));
    }
}
