//! Who may do what: the roles of a finance bureau's desks, the permissions a
//! route can require, and the table between them.
//!
//! Pure data, the bottom layer: the HTTP layer checks a caller's roles
//! against the permission each route declares (deny by default: a route
//! that declares none cannot be added), and the ledger's readers narrow what
//! a caller sees by [`Scope`]. The table here is the one published in
//! README.md and ARCHITECTURE.md; `tests/tests/it/access.rs` walks every
//! route with every role against it.
//!
//! The roles follow seed 001 (三、明确职责分工): the lead office 农财所 runs the
//! system, the budget desk 预算股 is the 指标总收发 post, the treasury desk 国库股
//! brings payments in, the business desks enter what their 归口 categories
//! receive, 监督检查室 and 支付中心 audit, 信息中心 keeps it running. The
//! administrator (系统管理员) manages accounts and the tree but sees no money
//! detail, after the separation of duties (三员分立) of Chinese government
//! systems.

use std::fmt;
use std::str::FromStr;

/// A desk's role. A user holds one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// 系统管理员: accounts, children and enrolment, catalog, configuration.
    Admin,
    /// 牵头科室 (农财所): reads the whole ledger, runs the warnings.
    Lead,
    /// 指标总收发 (预算股): funds received, own budgets, allocations of any
    /// category.
    AllocationDesk,
    /// 业务股室: allocations, projects, targets and actuals of the categories
    /// whose 归口 department is the officer's own.
    Department,
    /// 国库支付 (国库股): payments, imports, reversals.
    Treasury,
    /// 监督检查 (监督检查室, 支付中心): reads everything, writes nothing.
    Auditor,
    /// 运维 (信息中心): health, metrics, sync status; no money detail.
    Operator,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Lead,
        Role::AllocationDesk,
        Role::Department,
        Role::Treasury,
        Role::Auditor,
        Role::Operator,
    ];

    /// The stable name stored in the database, used on the command line and
    /// signed into journal entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Lead => "lead",
            Role::AllocationDesk => "allocation",
            Role::Department => "department",
            Role::Treasury => "treasury",
            Role::Auditor => "auditor",
            Role::Operator => "operator",
        }
    }

    /// The name the bureaus use.
    pub fn zh(self) -> &'static str {
        match self {
            Role::Admin => "系统管理员",
            Role::Lead => "牵头科室",
            Role::AllocationDesk => "指标总收发",
            Role::Department => "业务股室",
            Role::Treasury => "国库支付",
            Role::Auditor => "监督检查",
            Role::Operator => "运维",
        }
    }

    /// What this role may do.
    pub fn permits(self, p: Permission) -> bool {
        use Permission as P;
        use Role as R;
        match p {
            P::Public | P::SignedIn => true,
            P::ReadLedger => matches!(
                self,
                R::Lead | R::AllocationDesk | R::Department | R::Treasury | R::Auditor
            ),
            P::Export => matches!(self, R::Lead | R::Auditor),
            P::RecordFunds => matches!(self, R::AllocationDesk),
            P::Allocate => matches!(self, R::AllocationDesk | R::Department),
            P::ManageProjects => matches!(self, R::Department),
            P::Pay => matches!(self, R::Treasury),
            P::ManageWarnings => matches!(self, R::Lead),
            P::FollowUp => matches!(
                self,
                R::Lead | R::AllocationDesk | R::Department | R::Treasury
            ),
            P::ReadHealth => matches!(self, R::Operator | R::Admin | R::Lead),
            P::ManageAccounts | P::ManageNodes => matches!(self, R::Admin),
            P::ReadSecurityLog => matches!(self, R::Admin | R::Auditor),
            P::Publish => matches!(self, R::Lead | R::AllocationDesk),
            P::ReviewTargets | P::ApproveTargets => matches!(self, R::Lead),
            P::Evaluate => matches!(self, R::Department),
            P::CompileEvaluations => matches!(self, R::Lead | R::Department),
            P::SpotCheck => matches!(self, R::Lead),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; the roles are admin, lead, allocation, department, treasury, auditor, operator")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// What a route needs. Every route declares exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Anyone, signed in or not: health, readiness, the login page, public
    /// disclosure.
    Public,
    /// Any signed-in user: their own password, tokens and session.
    SignedIn,
    /// Money detail: allocations, payments, projects, the journal, traces,
    /// summaries, warnings (narrowed by [`Scope`]).
    ReadLedger,
    /// Exports of lists and logs.
    Export,
    /// Funds received from outside the tree and own budgets.
    RecordFunds,
    /// Allocations down the tree.
    Allocate,
    /// Projects, their status, targets and actuals.
    ManageProjects,
    /// Payments, payment imports, reversals.
    Pay,
    /// Warning thresholds, risk points; assigning a warning's follow-up.
    ManageWarnings,
    /// Answering a follow-up (核实情况, 整改措施) assigned to oneself or one's
    /// desk (the handler checks which).
    FollowUp,
    /// Replication health, metrics, sync status.
    ReadHealth,
    /// Accounts, roles, tokens of others.
    ManageAccounts,
    /// Children, enrolment, the catalog.
    ManageNodes,
    /// The login and operation logs.
    ReadSecurityLog,
    /// Publishing allocation results and project arrangements on the public
    /// pages (公告公示).
    Publish,
    /// Reviewing performance targets submitted by the departments (审核:
    /// necessity, relevance, fit to the money; seed 003 第八条: the finance
    /// bureau's). The lead office (农财所, seed 001 三) holds it, never the
    /// department desk that submits the targets.
    ReviewTargets,
    /// Approving reviewed performance targets (批复, with the 文号; seed 003
    /// 第九条: "谁批复预算，谁批复目标"). The lead office, as review.
    ApproveTargets,
    /// A project's year-end self-evaluation (绩效自评), by the department
    /// officer of its category (seed 003 §13).
    Evaluate,
    /// Compiling a self-evaluation report (绩效自评报告): a department's by
    /// its officer, the node's by the lead office (a role spanning
    /// departments; the handler checks which).
    CompileEvaluations,
    /// Spot checks (抽查) of the subtree's self-evaluations, their findings,
    /// and assigning a 不符合 finding's rectification (整改).
    SpotCheck,
}

impl Permission {
    pub const ALL: [Permission; 20] = [
        Permission::Public,
        Permission::SignedIn,
        Permission::ReadLedger,
        Permission::Export,
        Permission::RecordFunds,
        Permission::Allocate,
        Permission::ManageProjects,
        Permission::Pay,
        Permission::ManageWarnings,
        Permission::FollowUp,
        Permission::ReadHealth,
        Permission::ManageAccounts,
        Permission::ManageNodes,
        Permission::ReadSecurityLog,
        Permission::Publish,
        Permission::ReviewTargets,
        Permission::ApproveTargets,
        Permission::Evaluate,
        Permission::CompileEvaluations,
        Permission::SpotCheck,
    ];

    /// What a refused caller is told they lack, in Chinese.
    pub fn zh(self) -> &'static str {
        match self {
            Permission::Public => "公开访问",
            Permission::SignedIn => "登录",
            Permission::ReadLedger => "查看台账",
            Permission::Export => "导出",
            Permission::RecordFunds => "登记来款和本级预算",
            Permission::Allocate => "分配下达",
            Permission::ManageProjects => "项目与绩效目标",
            Permission::Pay => "支付登记",
            Permission::ManageWarnings => "预警管理",
            Permission::FollowUp => "整改反馈",
            Permission::ReadHealth => "运行状态",
            Permission::ManageAccounts => "用户管理",
            Permission::ManageNodes => "下级节点与资金目录",
            Permission::ReadSecurityLog => "安全日志",
            Permission::Publish => "发布公示",
            Permission::ReviewTargets => "审核绩效目标",
            Permission::ApproveTargets => "批复绩效目标",
            Permission::Evaluate => "绩效自评",
            Permission::CompileEvaluations => "汇总自评报告",
            Permission::SpotCheck => "抽查与整改",
        }
    }

    /// Whether any of `roles` grants this permission.
    pub fn granted_by(self, roles: &[Role]) -> bool {
        self == Permission::Public || roles.iter().any(|r| r.permits(self))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Which fund categories a caller sees and acts on, besides what their roles
/// allow: a department officer only the categories of their own department
/// (the catalog's `department` column, 归口); classified (涉密) categories only
/// users explicitly granted them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `None`: every department's categories.
    pub department: Option<String>,
    pub classified: bool,
}

impl Scope {
    /// Everything (the node itself, and tests of the ledger).
    pub fn all() -> Scope {
        Scope {
            department: None,
            classified: true,
        }
    }

    /// The scope of a user with these roles, department and grant: a role
    /// that spans departments (lead office, allocation desk, treasury,
    /// auditor) lifts the department limit.
    pub fn of(roles: &[Role], department: Option<&str>, classified: bool) -> Scope {
        let bound = Scope::department_bound(roles);
        Scope {
            // A department officer with no department sees no department's
            // categories (an administrator has to give them one).
            department: if bound {
                Some(department.unwrap_or_default().to_owned())
            } else {
                None
            },
            classified,
        }
    }

    /// Whether these roles act only for one department's categories: a
    /// department officer without a role that spans departments (lead
    /// office, allocation desk, treasury, auditor).
    pub fn department_bound(roles: &[Role]) -> bool {
        roles.contains(&Role::Department)
            && !roles.iter().any(|r| {
                matches!(
                    r,
                    Role::Lead | Role::AllocationDesk | Role::Treasury | Role::Auditor
                )
            })
    }

    /// Whether a category of `department`, classified or not, is in scope.
    pub fn covers(&self, department: &str, classified: bool) -> bool {
        (!classified || self.classified)
            && self.department.as_deref().is_none_or(|d| d == department)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn the_administrator_sees_no_money_and_the_auditor_writes_nothing() {
        assert!(!Permission::ReadLedger.granted_by(&[Role::Admin]));
        assert!(!Permission::ReadLedger.granted_by(&[Role::Operator]));
        for p in [
            Permission::RecordFunds,
            Permission::Allocate,
            Permission::ManageProjects,
            Permission::Pay,
            Permission::ManageWarnings,
            Permission::FollowUp,
            Permission::ManageAccounts,
            Permission::ManageNodes,
            Permission::Evaluate,
            Permission::CompileEvaluations,
            Permission::SpotCheck,
        ] {
            assert!(!p.granted_by(&[Role::Auditor]), "{p}");
        }
        assert!(!Permission::SignedIn.granted_by(&[]));
        assert!(Permission::Public.granted_by(&[]));
    }

    #[test]
    fn a_department_officer_is_scoped_to_their_department() {
        let s = Scope::of(&[Role::Department], Some("农财所"), false);
        assert!(s.covers("农财所", false));
        assert!(!s.covers("社保股", false));
        assert!(!s.covers("农财所", true));
        let s = Scope::of(
            &[Role::Department, Role::AllocationDesk],
            Some("农财所"),
            false,
        );
        assert!(s.covers("社保股", false));
    }
}
