"""Every model, imported once so alembic and the tests see the whole schema."""

from domain.applications.models import Application, ApplicationStatus, Decision, DecisionOutcome
from domain.audit.models import AuditEntry
from domain.base import Base
from domain.enterprises.models import Enterprise, FinancialStatement
from domain.identity.models import (
    AuthSession,
    Institution,
    InstitutionKind,
    LoginThrottle,
    Membership,
    OneTimeToken,
    OutboxMessage,
    PolicyRule,
    PolicyVersion,
    RecoveryCode,
    RefreshToken,
    Role,
    ServiceAccount,
    TokenPurpose,
    User,
    UserStatus,
)
from domain.lending.models import DelinquencyBucket, Installment, Loan, LoanStatus, Repayment
from domain.products.models import Product, ProductStatus, ProductType, RepaymentMethod
from domain.risk.models import AlertSeverity, AlertStatus, RiskAlert, RiskAssessment
from privacy.models import (
    AccessLogEntry,
    BreakGlassGrant,
    ConsentRecord,
    DataKey,
    MaskingPolicy,
)

__all__ = [
    "AccessLogEntry",
    "AlertSeverity",
    "AlertStatus",
    "Application",
    "ApplicationStatus",
    "AuditEntry",
    "AuthSession",
    "Base",
    "BreakGlassGrant",
    "ConsentRecord",
    "DataKey",
    "Decision",
    "DecisionOutcome",
    "DelinquencyBucket",
    "Enterprise",
    "FinancialStatement",
    "Installment",
    "Institution",
    "InstitutionKind",
    "Loan",
    "LoanStatus",
    "LoginThrottle",
    "MaskingPolicy",
    "Membership",
    "OneTimeToken",
    "OutboxMessage",
    "PolicyRule",
    "PolicyVersion",
    "Product",
    "ProductStatus",
    "ProductType",
    "RecoveryCode",
    "RefreshToken",
    "Repayment",
    "RepaymentMethod",
    "RiskAlert",
    "RiskAssessment",
    "Role",
    "ServiceAccount",
    "TokenPurpose",
    "User",
    "UserStatus",
]
