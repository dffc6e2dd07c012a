//! How the key table treats a field's value: its TOML rendering and what a rule checks.

use crate::HealthStatus;

/// What a [`Rule`](crate::rule::Rule) looks at in a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject<'a> {
    /// A whole number.
    Number(u64),
    /// A string.
    Text(&'a str),
    /// Nothing to check: an unset optional key, a boolean, an enum.
    Nothing,
}

/// What kind of value a field type holds, for checking that a row's rule fits its field.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A whole number.
    Number,
    /// A string.
    Text,
    /// Anything else.
    Other,
}

/// A type a configuration field can have.
pub(crate) trait FieldValue {
    /// The kind of value (an `Option<T>` has `T`'s).
    #[cfg(test)]
    const KIND: Kind;
    /// The value in TOML syntax; `none_word` is what an unset optional renders as.
    fn render(&self, none_word: Option<&str>) -> String;
    /// What the key's rule checks.
    fn subject(&self) -> Subject<'_>;
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            #[cfg(test)]
            const KIND: Kind = Kind::Number;
            fn render(&self, _: Option<&str>) -> String {
                self.to_string()
            }
            fn subject(&self) -> Subject<'_> {
                Subject::Number(u64::try_from(*self).unwrap_or(u64::MAX))
            }
        }
    )*};
}

numbers!(u16, u32, u64, usize);

impl FieldValue for bool {
    #[cfg(test)]
    const KIND: Kind = Kind::Other;
    fn render(&self, _: Option<&str>) -> String {
        self.to_string()
    }
    fn subject(&self) -> Subject<'_> {
        Subject::Nothing
    }
}

impl FieldValue for String {
    #[cfg(test)]
    const KIND: Kind = Kind::Text;
    fn render(&self, _: Option<&str>) -> String {
        format!("{self:?}")
    }
    fn subject(&self) -> Subject<'_> {
        Subject::Text(self)
    }
}

impl FieldValue for HealthStatus {
    #[cfg(test)]
    const KIND: Kind = Kind::Other;
    fn render(&self, _: Option<&str>) -> String {
        format!("{:?}", self.as_str())
    }
    fn subject(&self) -> Subject<'_> {
        Subject::Nothing
    }
}

impl<T: FieldValue> FieldValue for Option<T> {
    #[cfg(test)]
    const KIND: Kind = T::KIND;
    fn render(&self, none_word: Option<&str>) -> String {
        match self {
            Some(v) => v.render(None),
            None => format!("{:?}", none_word.unwrap_or("none")),
        }
    }
    fn subject(&self) -> Subject<'_> {
        self.as_ref().map_or(Subject::Nothing, FieldValue::subject)
    }
}
