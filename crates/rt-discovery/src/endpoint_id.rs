//! [`EndpointId`]: the validated `namespace/component/endpoint` triple.

use std::fmt;

use crate::error::DiscoveryError;

/// The name of an endpoint across processes: `namespace/component/endpoint`, each part made
/// of `[a-z0-9_-]+` (the reference runtime's rule), so that no part can contain the `/` of
/// the key layout.
///
/// ```
/// use rt_discovery::EndpointId;
///
/// let id = EndpointId::new("dynamo", "backend", "generate")?;
/// assert_eq!(id.to_string(), "dynamo/backend/generate");
/// assert_eq!("dynamo/backend/generate".parse::<EndpointId>()?, id);
/// assert!(EndpointId::new("dynamo", "Backend", "generate").is_err());
/// assert!(EndpointId::new("dynamo", "back/end", "generate").is_err());
/// # Ok::<(), rt_discovery::DiscoveryError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId {
    namespace: String,
    component: String,
    endpoint: String,
}

/// Checks one part of an endpoint id: `[a-z0-9_-]+`.
pub(crate) fn check_name(part: &'static str, name: &str) -> Result<(), DiscoveryError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(DiscoveryError::InvalidName {
            part,
            name: name.to_owned(),
        })
    }
}

impl EndpointId {
    /// An endpoint id from its three parts.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidName`] naming the first part that is empty or has a character
    /// outside `[a-z0-9_-]`.
    pub fn new(
        namespace: impl Into<String>,
        component: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Result<Self, DiscoveryError> {
        let (namespace, component, endpoint) =
            (namespace.into(), component.into(), endpoint.into());
        check_name("namespace", &namespace)?;
        check_name("component", &component)?;
        check_name("endpoint", &endpoint)?;
        Ok(Self {
            namespace,
            component,
            endpoint,
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The component.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.component, self.endpoint)
    }
}

impl std::str::FromStr for EndpointId {
    type Err = DiscoveryError;

    /// Parses `namespace/component/endpoint`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, '/');
        let (ns, comp, ep) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        Self::new(ns, comp, ep)
    }
}
