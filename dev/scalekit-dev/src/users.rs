//! The fixed demo directory: users, organizations and their memberships.

/// A demo user that can sign in on the dev sign-in page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoUser {
    /// The user id, used as the `sub` claim (`usr_...`).
    pub id: &'static str,
    /// The e-mail address (`email` claim); its domain drives `login_hint` / `domain` routing.
    pub email: &'static str,
    /// The display name (`name` claim).
    pub name: &'static str,
    /// `given_name` claim.
    pub given_name: &'static str,
    /// `family_name` claim.
    pub family_name: &'static str,
    /// Organization memberships as `(organization id, organization name, role)`;
    /// the role is `"admin"` or `"member"`.
    pub memberships: &'static [(&'static str, &'static str, &'static str)],
}

impl DemoUser {
    /// The role of this user in `org_id`, if they are a member.
    pub(crate) fn role_in(&self, org_id: &str) -> Option<&'static str> {
        self.memberships
            .iter()
            .find(|(id, _, _)| *id == org_id)
            .map(|(_, _, role)| *role)
    }

    pub(crate) fn email_domain(&self) -> &'static str {
        self.email.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

pub(crate) static USERS: [DemoUser; 3] = [
    DemoUser {
        id: "usr_alice",
        email: "alice@acme.test",
        name: "Alice Anderson",
        given_name: "Alice",
        family_name: "Anderson",
        memberships: &[
            ("org_acme", "Acme Corp", "admin"),
            ("org_globex", "Globex", "member"),
        ],
    },
    DemoUser {
        id: "usr_bob",
        email: "bob@globex.test",
        name: "Bob Brown",
        given_name: "Bob",
        family_name: "Brown",
        memberships: &[("org_globex", "Globex", "admin")],
    },
    DemoUser {
        id: "usr_carol",
        email: "carol@acme.test",
        name: "Carol Clark",
        given_name: "Carol",
        family_name: "Clark",
        memberships: &[("org_acme", "Acme Corp", "member")],
    },
];

/// Organizations as `(id, name)`.
pub(crate) static ORGS: [(&str, &str); 2] = [("org_acme", "Acme Corp"), ("org_globex", "Globex")];

pub(crate) fn find_user(id: &str) -> Option<&'static DemoUser> {
    USERS.iter().find(|u| u.id == id)
}

/// The name of the organization `org_id`, if it exists.
pub(crate) fn organization_name(org_id: &str) -> Option<&'static str> {
    ORGS.iter()
        .find(|(id, _)| *id == org_id)
        .map(|(_, name)| *name)
}

/// The organization id as the directory holds it, if it exists.
pub(crate) fn known_organization(org_id: &str) -> Option<&'static str> {
    ORGS.iter().map(|(id, _)| *id).find(|id| *id == org_id)
}

/// Every organization has exactly one (dev) connection: `conn_dev_<org id>`.
pub(crate) fn connection_of(org_id: &str) -> String {
    format!("conn_dev_{org_id}")
}

pub(crate) fn org_of_connection(connection_id: &str) -> Option<&'static str> {
    let org = connection_id.strip_prefix("conn_dev_")?;
    ORGS.iter().map(|(id, _)| *id).find(|id| *id == org)
}

pub(crate) fn permissions_of(role: &str) -> &'static [&'static str] {
    match role {
        "admin" => &["organization:read", "organization:write"],
        _ => &["organization:read"],
    }
}
