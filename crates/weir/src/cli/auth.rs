//! `weir auth`: access keys, and who may do what with them: tenants,
//! users, groups and policies (lakeFS's RBAC, per tenant). Changes are
//! stored in the lake's metadata and reach running servers within seconds.

use std::path::PathBuf;
use std::process::ExitCode;

use weir_server::authz::Authz;
use weir_server::authz::model::{BUILTIN_GROUPS, Holder, Model, Policy};
use weir_server::{KeyStore, ServerError};

use crate::Ctx;
use crate::output::Format;

#[derive(clap::Subcommand)]
pub enum AuthCmd {
    /// Create an access key (id and secret) for `weir serve`'s clients.
    /// A new user joins the tenant (made if new) as an admin when it is the
    /// tenant's first user, else as a developer, unless --group says
    CreateKey {
        /// Who the key is for; recorded as the actor of what it does
        #[arg(long, default_value = "admin")]
        user: String,
        /// The tenant of a new user [default: default]
        #[arg(long)]
        tenant: Option<String>,
        /// The group of a new user: Admins, Developers, Viewers or a custom one
        #[arg(long)]
        group: Option<String>,
    },
    /// List access keys (without their secrets)
    ListKeys,
    /// Delete an access key
    DeleteKey {
        /// The access key id
        access_key_id: String,
    },
    /// Tenants: the organisations that share the lake and see nothing of each other
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Users: their tenant, groups and policies
    #[command(subcommand)]
    User(UserCmd),
    /// Policies: statements of effect, actions and resources, as lakeFS's
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Give a repository to a tenant (repositories made by `weir repo create` are the default tenant's)
    AssignRepo {
        /// The repository's name
        repository: String,
        /// The tenant it goes to
        #[arg(long)]
        tenant: String,
    },
}

#[derive(clap::Subcommand)]
pub enum TenantCmd {
    /// Create a tenant (its first user, from `create-key --tenant`, is its admin)
    Create {
        /// The tenant's name (letters, digits, '-', '_', '.', '@')
        name: String,
    },
    /// List tenants with their users, repositories and quotas
    List,
    /// Set a tenant's limits (0 removes one); over a limit a request gets 429
    Quota {
        /// The tenant's name
        name: String,
        /// Requests per second over every surface
        #[arg(long, value_name = "N")]
        requests_per_second: Option<u32>,
        /// SQL queries running at once
        #[arg(long, value_name = "N")]
        concurrent_queries: Option<u32>,
        /// Bytes stored in the tenant's repositories (uploads past it get 429)
        #[arg(long, value_name = "BYTES")]
        stored_bytes: Option<u64>,
    },
}

#[derive(clap::Subcommand)]
pub enum UserCmd {
    /// List users with their tenant, groups and policies
    List {
        /// Only the users of this tenant
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Put a user in a group
    AddGroup { user: String, group: String },
    /// Take a user out of a group
    RemoveGroup { user: String, group: String },
}

#[derive(clap::Subcommand)]
pub enum PolicyCmd {
    /// Create or replace a tenant's policy from a lakeFS policy document:
    /// {"statement": [{"effect": "allow"|"deny", "action": ["fs:*"], "resource": "weir:repository/demand/*"}]}
    Create {
        /// The policy's id, unique in its tenant
        id: String,
        /// The tenant whose policy it is
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The JSON document
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// List a tenant's policies and the built-in ones
    List {
        /// The tenant whose policies to list
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Attach a policy to a user or a custom group
    Attach {
        /// The policy's id
        id: String,
        #[command(flatten)]
        to: HolderArgs,
    },
    /// Detach a policy from a user or a custom group
    Detach {
        /// The policy's id
        id: String,
        #[command(flatten)]
        to: HolderArgs,
    },
}

#[derive(clap::Args)]
#[group(required = true, multiple = false, id = "holder")]
pub struct HolderArgs {
    /// A user (the policy is of the user's tenant)
    #[arg(long)]
    user: Option<String>,
    /// A custom group of --tenant (made by its first policy)
    #[arg(long)]
    group: Option<String>,
    /// The tenant of --group
    #[arg(long, default_value = "default", requires = "group")]
    tenant: String,
}

fn invalid(e: String) -> ServerError {
    ServerError::InvalidArgument(e)
}

pub async fn auth(ctx: &Ctx, cmd: AuthCmd) -> anyhow::Result<ExitCode> {
    // Opening the lake checks it is one before a key file lands there.
    let lake = std::sync::Arc::new(weir_store::Lake::open(&ctx.config.lake)?);
    let keys = KeyStore::for_lake(&lake, &ctx.config.lake)?;
    // A lake whose keys predate tenants gets its model first, so the users
    // who already had keys stay its admins.
    let users: Vec<String> = keys.list()?.into_iter().map(|k| k.user).collect();
    let authz = Authz::open(lake.meta_store(), &users)?;
    let now = weir_server::authz::now();
    let json = ctx.format == Format::Json;
    match cmd {
        AuthCmd::CreateKey {
            user,
            tenant,
            group,
        } => {
            let u = authz.update(|m| {
                m.ensure_user(&user, tenant.as_deref(), group.as_deref(), now)
                    .cloned()
                    .map_err(ServerError::from)
            })?;
            let k = keys.create(&user)?;
            if json {
                let mut v = serde_json::to_value(&k)?;
                v["tenant"] = u.tenant.clone().into();
                v["groups"] = serde_json::to_value(&u.groups)?;
                crate::output::print_json(&v);
            } else {
                println!("access_key_id:     {}", k.access_key_id);
                println!("secret_access_key: {}", k.secret_access_key);
                println!("user:              {}", k.user);
                println!("tenant:            {}", u.tenant);
                let groups: Vec<&str> = u.groups.iter().map(String::as_str).collect();
                println!("groups:            {}", groups.join(", "));
                println!(
                    "The secret is shown only now. Use the pair as HTTP basic auth (lakeFS clients: username/password)."
                );
            }
        }
        AuthCmd::ListKeys => {
            let list = keys.list()?;
            if json {
                crate::output::print_json(&serde_json::to_value(&list)?);
            } else {
                for k in list {
                    println!(
                        "{}  {}  {}",
                        k.access_key_id,
                        k.user,
                        crate::output::time(k.creation_date)
                    );
                }
            }
        }
        AuthCmd::DeleteKey { access_key_id } => {
            keys.delete(&access_key_id)?;
            if !json {
                println!("Deleted access key {access_key_id}");
            }
        }
        AuthCmd::Tenant(TenantCmd::Create { name }) => {
            authz.update(|m| m.add_tenant(&name, now).map_err(ServerError::from))?;
            if !json {
                println!("Created tenant {name}");
            }
        }
        AuthCmd::Tenant(TenantCmd::List) => {
            let repos: Vec<String> = lake.list_repos()?.into_iter().map(|r| r.name).collect();
            let m = authz.model()?;
            tenants(&m, &repos, json);
        }
        AuthCmd::Tenant(TenantCmd::Quota {
            name,
            requests_per_second,
            concurrent_queries,
            stored_bytes,
        }) => {
            let q = authz.update(|m| {
                let t = m
                    .tenants
                    .get_mut(&name)
                    .ok_or_else(|| ServerError::NotFound(format!("no tenant '{name}'")))?;
                let limit = |v: u32| (v > 0).then_some(v);
                if let Some(v) = requests_per_second {
                    t.quota.requests_per_second = limit(v);
                }
                if let Some(v) = concurrent_queries {
                    t.quota.concurrent_queries = limit(v);
                }
                if let Some(v) = stored_bytes {
                    t.quota.stored_bytes = (v > 0).then_some(v);
                }
                Ok(t.quota)
            })?;
            if json {
                crate::output::print_json(&serde_json::to_value(q)?);
            } else {
                let show = |v: Option<u32>| v.map_or("no limit".to_string(), |n| n.to_string());
                println!(
                    "{name}: requests per second {}, queries at once {}, bytes stored {}",
                    show(q.requests_per_second),
                    show(q.concurrent_queries),
                    q.stored_bytes
                        .map_or("no limit".to_string(), |n| n.to_string())
                );
            }
        }
        AuthCmd::User(UserCmd::List { tenant }) => {
            let m = authz.model()?;
            let rows: Vec<_> = m
                .users
                .iter()
                .filter(|(_, u)| tenant.as_deref().is_none_or(|t| t == u.tenant))
                .collect();
            if json {
                let v: serde_json::Map<_, _> = rows
                    .iter()
                    .map(|(n, u)| ((*n).clone(), serde_json::to_value(u).unwrap_or_default()))
                    .collect();
                crate::output::print_json(&v.into());
            } else {
                for (n, u) in rows {
                    let g: Vec<&str> = u.groups.iter().map(String::as_str).collect();
                    let p: Vec<&str> = u.policies.iter().map(String::as_str).collect();
                    println!(
                        "{n}  tenant={}  groups={}  policies={}",
                        u.tenant,
                        g.join(","),
                        p.join(",")
                    );
                }
            }
        }
        AuthCmd::User(UserCmd::AddGroup { user, group }) => {
            authz.update(|m| m.add_to_group(&user, &group).map_err(ServerError::from))?;
            if !json {
                println!("Added {user} to {group}");
            }
        }
        AuthCmd::User(UserCmd::RemoveGroup { user, group }) => {
            authz.update(|m| {
                m.remove_from_group(&user, &group)
                    .map_err(ServerError::from)
            })?;
            if !json {
                println!("Removed {user} from {group}");
            }
        }
        AuthCmd::Policy(PolicyCmd::Create { id, tenant, file }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| invalid(format!("{}: {e}", file.display())))?;
            let mut doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| invalid(format!("{}: not JSON: {e}", file.display())))?;
            doc["id"] = id.clone().into();
            let policy: Policy = serde_json::from_value(doc).map_err(|e| {
                invalid(format!(
                    "{}: not a policy ({{\"statement\": [{{\"effect\", \"action\", \"resource\"}}]}}): {e}",
                    file.display()
                ))
            })?;
            authz.update(|m| {
                m.put_policy(&tenant, policy.clone())
                    .map_err(ServerError::from)
            })?;
            if !json {
                println!("Stored policy {id} of tenant {tenant}");
            }
        }
        AuthCmd::Policy(PolicyCmd::List { tenant }) => {
            let m = authz.model()?;
            if !m.tenants.contains_key(&tenant) {
                return Err(invalid(format!("no tenant '{tenant}'")).into());
            }
            let all = m.tenant_policies(&tenant);
            if json {
                crate::output::print_json(&serde_json::to_value(&all)?);
            } else {
                for p in all {
                    println!("{}", p.id);
                    for s in &p.statement {
                        println!("  {:?} {} on {}", s.effect, s.action.join(","), s.resource);
                    }
                }
            }
        }
        AuthCmd::Policy(PolicyCmd::Attach { id, to }) => {
            authz.update(|m| {
                let (tenant, holder) = holder(m, &to)?;
                m.attach(&tenant, &id, &holder).map_err(ServerError::from)
            })?;
            if !json {
                println!("Attached {id}");
            }
        }
        AuthCmd::Policy(PolicyCmd::Detach { id, to }) => {
            authz.update(|m| {
                let (tenant, holder) = holder(m, &to)?;
                m.detach(&tenant, &id, &holder).map_err(ServerError::from)
            })?;
            if !json {
                println!("Detached {id}");
            }
        }
        AuthCmd::AssignRepo { repository, tenant } => {
            lake.repo(&repository)?;
            authz.update(|m| {
                if !m.tenants.contains_key(&tenant) {
                    return Err(invalid(format!("no tenant '{tenant}'")));
                }
                m.repos.insert(repository.clone(), tenant.clone());
                Ok(())
            })?;
            if !json {
                println!("Repository {repository} is now tenant {tenant}'s");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The tenant and the holder named by `--user` or `--group --tenant`.
fn holder(m: &Model, to: &HolderArgs) -> Result<(String, Holder), ServerError> {
    match (&to.user, &to.group) {
        (Some(u), _) => {
            let t = m
                .user_tenant(u)
                .ok_or_else(|| invalid(format!("no user '{u}'")))?;
            Ok((t.to_string(), Holder::User(u.clone())))
        }
        (None, Some(g)) => Ok((to.tenant.clone(), Holder::Group(g.clone()))),
        (None, None) => Err(invalid("name --user or --group".into())),
    }
}

fn tenants(m: &Model, repos: &[String], json: bool) {
    let mut out = serde_json::Map::new();
    for (name, t) in &m.tenants {
        let users: Vec<&String> = m
            .users
            .iter()
            .filter(|(_, u)| &u.tenant == name)
            .map(|(n, _)| n)
            .collect();
        let repos: Vec<&String> = repos
            .iter()
            .filter(|r| r.as_str() != weir_core::names::SYSTEM_REPO && m.repo_tenant(r) == name)
            .collect();
        let mut groups: Vec<String> = BUILTIN_GROUPS.iter().map(|g| g.to_string()).collect();
        groups.extend(t.groups.keys().cloned());
        if json {
            out.insert(
                name.clone(),
                serde_json::json!({"created": t.created, "users": users, "groups": groups, "repositories": repos, "quota": t.quota}),
            );
        } else {
            let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            println!(
                "{name}  users={}  repositories={}  groups={}",
                list(&users),
                list(&repos),
                groups.join(",")
            );
        }
    }
    if json {
        crate::output::print_json(&out.into());
    }
}
