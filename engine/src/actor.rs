//! [`Actor`]: who asks for an action (a logged-in principal or nobody) and from which address.
//! Every action of the engine takes one: it checks the actor's right and names it in the audit.

use crate::accounts::{Principal, Role};
use crate::error::{ErrorKind, Failure};

/// The caller of an engine action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub principal: Option<Principal>,
    /// The client's address, as the web layer saw it ("" when there is none).
    pub address: String,
}

impl Actor {
    pub fn new(principal: Option<Principal>, address: impl Into<String>) -> Actor {
        Actor { principal, address: address.into() }
    }

    pub fn user(principal: Principal, address: impl Into<String>) -> Actor {
        Actor::new(Some(principal), address)
    }

    /// Nobody logged in (a login form, a refused request).
    pub fn anonymous(address: impl Into<String>) -> Actor {
        Actor::new(None, address)
    }

    /// The name written in the audit log: the username, or "anonymous".
    pub fn name(&self) -> &str {
        self.principal.as_ref().map_or("anonymous", |p| p.username.as_str())
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the actor holds `role` or more.
    pub fn can(&self, role: Role) -> bool {
        self.principal.as_ref().is_some_and(|p| p.role >= role)
    }

    /// The principal, when it holds `role` or more.
    pub fn require(&self, role: Role) -> Result<&Principal, Denied> {
        match &self.principal {
            Some(p) if p.role >= role => Ok(p),
            Some(p) => Err(Denied::Role { needs: role, has: p.role }),
            None => Err(Denied::NotLoggedIn),
        }
    }
}

/// Why an actor may not do something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("log in first")]
    NotLoggedIn,
    #[error("this needs the {} role; you are {}", needs.as_str(), has.as_str())]
    Role { needs: Role, has: Role },
}

impl Failure for Denied {
    fn kind(&self) -> ErrorKind {
        match self {
            Denied::NotLoggedIn => ErrorKind::Unauthenticated,
            Denied::Role { .. } => ErrorKind::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::AuthMethod;

    fn as_role(role: Role) -> Actor {
        let p = Principal { user_id: 1, username: "ana".into(), role, via: AuthMethod::Session };
        Actor::user(p, "10.0.0.1")
    }

    #[test]
    fn roles_are_ordered_and_refusals_say_why() {
        assert!(as_role(Role::Admin).require(Role::Editor).is_ok());
        let refused = as_role(Role::Viewer).require(Role::Editor).unwrap_err();
        assert_eq!(refused.to_string(), "this needs the editor role; you are viewer");
        assert_eq!(refused.kind(), ErrorKind::Forbidden);
        let nobody = Actor::anonymous("10.0.0.2");
        assert_eq!(nobody.name(), "anonymous");
        assert_eq!(nobody.require(Role::Viewer).unwrap_err().kind(), ErrorKind::Unauthenticated);
        assert!(!nobody.can(Role::Viewer));
        assert_eq!(as_role(Role::Viewer).name(), "ana");
    }
}
