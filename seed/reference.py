"""Fixed reference data: industries, regions and the words synthetic names are made of."""

from __future__ import annotations

from dataclasses import dataclass

from domain.products.models import ProductType, RepaymentMethod


@dataclass(frozen=True, slots=True)
class Industry:
    code: str
    # Added to the log-odds of default: sector risk that the accounts do not show.
    risk: float
    revenue_per_employee: float
    asset_turnover: float
    gross_margin: float
    operating_margin: float
    growth: float
    words_zh: tuple[str, ...]
    words_en: tuple[str, ...]


INDUSTRIES: tuple[Industry, ...] = (
    Industry("manufacturing", 0.0, 600_000, 1.0, 0.22, 0.06, 0.05,
             ("机械制造", "精密制造", "电子", "五金制品", "塑胶制品", "纺织"),
             ("Machinery", "Precision Manufacturing", "Electronics", "Metalworks")),
    Industry("wholesale_retail", 0.1, 1_200_000, 2.2, 0.15, 0.03, 0.04,
             ("商贸", "贸易", "供应链管理", "百货"),
             ("Trading", "Supply Chain", "Wholesale", "Retail")),
    Industry("construction", 0.45, 700_000, 0.8, 0.12, 0.04, 0.03,
             ("建筑工程", "建设工程", "装饰工程"),
             ("Construction", "Building", "Interiors")),
    Industry("real_estate", 0.6, 1_500_000, 0.3, 0.25, 0.10, 0.0,
             ("房地产开发", "置业", "物业管理"),
             ("Property Development", "Real Estate", "Property Management")),
    Industry("information_technology", -0.2, 500_000, 0.9, 0.45, 0.08, 0.12,
             ("网络科技", "信息技术", "软件", "数据科技"),
             ("Software", "Information Technology", "Data", "Networks")),
    Industry("transport_logistics", 0.15, 450_000, 1.1, 0.14, 0.05, 0.05,
             ("物流", "运输", "货运代理"),
             ("Logistics", "Transport", "Freight")),
    Industry("agriculture", 0.3, 300_000, 0.7, 0.18, 0.05, 0.03,
             ("农业科技", "生态农业", "种养殖"),
             ("Agritech", "Farms", "Produce")),
    Industry("hospitality", 0.4, 250_000, 0.9, 0.55, 0.04, 0.04,
             ("餐饮管理", "酒店管理", "餐饮"),
             ("Catering", "Hotels", "Restaurants")),
    Industry("healthcare", -0.3, 400_000, 0.8, 0.40, 0.09, 0.08,
             ("医疗器械", "健康科技", "医药"),
             ("Medical Devices", "Health", "Pharma")),
    Industry("education", 0.2, 250_000, 1.0, 0.45, 0.06, 0.03,
             ("教育科技", "职业培训", "文化教育"),
             ("Education", "Training", "Learning")),
    Industry("energy", -0.1, 1_500_000, 0.5, 0.20, 0.09, 0.07,
             ("新能源", "能源科技", "光伏"),
             ("Energy", "Renewables", "Solar")),
    Industry("professional_services", -0.15, 350_000, 1.3, 0.50, 0.10, 0.06,
             ("企业管理咨询", "会计服务", "人力资源"),
             ("Consulting", "Accounting", "Staffing")),
)  # fmt: skip
INDUSTRY_WEIGHTS = (22, 20, 8, 3, 10, 8, 5, 7, 4, 3, 3, 7)


@dataclass(frozen=True, slots=True)
class Place:
    region: str
    city_zh: str
    city_en: str
    division_code: str
    weight: int


PLACES: tuple[Place, ...] = (
    Place("Beijing", "北京", "Beijing", "110105", 8),
    Place("Shanghai", "上海", "Shanghai", "310115", 8),
    Place("Tianjin", "天津", "Tianjin", "120116", 3),
    Place("Chongqing", "重庆", "Chongqing", "500103", 3),
    Place("Guangdong", "广州", "Guangzhou", "440106", 6),
    Place("Guangdong", "深圳", "Shenzhen", "440305", 7),
    Place("Guangdong", "东莞", "Dongguan", "441900", 4),
    Place("Zhejiang", "杭州", "Hangzhou", "330106", 7),
    Place("Zhejiang", "宁波", "Ningbo", "330203", 4),
    Place("Zhejiang", "温州", "Wenzhou", "330302", 4),
    Place("Jiangsu", "南京", "Nanjing", "320102", 4),
    Place("Jiangsu", "苏州", "Suzhou", "320505", 6),
    Place("Jiangsu", "无锡", "Wuxi", "320214", 3),
    Place("Shandong", "济南", "Jinan", "370102", 3),
    Place("Shandong", "青岛", "Qingdao", "370202", 3),
    Place("Fujian", "福州", "Fuzhou", "350102", 2),
    Place("Fujian", "厦门", "Xiamen", "350203", 3),
    Place("Sichuan", "成都", "Chengdu", "510104", 4),
    Place("Hubei", "武汉", "Wuhan", "420106", 3),
    Place("Hunan", "长沙", "Changsha", "430102", 2),
    Place("Henan", "郑州", "Zhengzhou", "410105", 2),
    Place("Anhui", "合肥", "Hefei", "340104", 2),
    Place("Shaanxi", "西安", "Xi'an", "610113", 2),
    Place("Hebei", "石家庄", "Shijiazhuang", "130102", 1),
    Place("Liaoning", "沈阳", "Shenyang", "210102", 1),
    Place("Yunnan", "昆明", "Kunming", "530102", 1),
    Place("Guangxi", "南宁", "Nanning", "450103", 1),
    Place("Jiangxi", "南昌", "Nanchang", "360102", 1),
)

# Central and policy banks do not lend to SMEs on a marketplace.
NOT_MARKET_BANKS = frozenset({"中国人民银行", "国家开发银行", "中国进出口银行", "中国农业发展银行"})

COMPANY_SUFFIXES_ZH = ("有限公司",) * 6 + ("有限责任公司", "股份有限公司")
COMPANY_SUFFIXES_EN = ("Co., Ltd.",) * 4 + ("Ltd.", "Group")


@dataclass(frozen=True, slots=True)
class ProductTemplate:
    """What products of one type typically look like; amounts in CNY, terms in months."""

    type: ProductType
    code: str
    min_amount: tuple[int, int]
    max_amount: tuple[int, int]
    terms: tuple[int, int]
    rates: tuple[float, float]
    fee_rate: tuple[float, float]
    methods: tuple[RepaymentMethod, ...]
    collateral_share: float
    industries: tuple[str, ...]
    min_years: tuple[int, int]
    min_revenue: int
    max_debt_to_asset: str
    names_zh: tuple[str, ...]
    names_en: tuple[str, ...]
    purposes_zh: tuple[str, ...]
    purposes_en: tuple[str, ...]


_A, _E, _I = RepaymentMethod.ANNUITY, RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.INTEREST_ONLY

PRODUCT_TEMPLATES: dict[ProductType, ProductTemplate] = {
    t.type: t
    for t in (
        ProductTemplate(
            ProductType.WORKING_CAPITAL_LOAN, "WC", (50_000, 100_000), (1_000_000, 5_000_000),
            (3, 12), (0.0385, 0.085), (0.0, 0.005), (_A, _E, _I), 0.2, (), (1, 2),
            500_000, "0.80",
            ("流动资金贷款", "经营快贷", "周转易"),
            ("Working Capital Loan", "Business Quick Loan", "Cash Flow Loan"),
            ("采购原材料", "支付供应商货款", "补充日常经营流动资金", "旺季备货"),
            ("Raw material purchases", "Supplier payments", "Day-to-day working capital",
             "Seasonal inventory"),
        ),
        ProductTemplate(
            ProductType.TERM_LOAN, "TL", (200_000, 300_000), (5_000_000, 20_000_000),
            (12, 60), (0.042, 0.09), (0.002, 0.01), (_A, _E), 0.7, (), (2, 3),
            2_000_000, "0.75",
            ("中长期经营贷款", "固定资产贷款", "技改贷"),
            ("Term Loan", "Fixed Asset Loan", "Upgrade Loan"),
            ("购置厂房", "生产线技术改造", "扩建仓储设施", "门店装修扩张"),
            ("Factory premises", "Production line upgrade", "Warehouse expansion",
             "New branch fit-out"),
        ),
        ProductTemplate(
            ProductType.EQUIPMENT_LEASING, "EL", (100_000, 300_000), (3_000_000, 10_000_000),
            (12, 60), (0.055, 0.11), (0.01, 0.03), (_A, _E), 1.0,
            ("manufacturing", "construction", "transport_logistics", "agriculture", "energy",
             "healthcare"),
            (1, 2), 1_000_000, "0.85",
            ("设备融资租赁", "直租通", "售后回租"),
            ("Equipment Lease", "Direct Lease", "Sale and Leaseback"),
            ("购置数控机床", "购置运输车辆", "购置医疗设备", "购置光伏组件", "购置工程机械"),
            ("CNC machine tools", "Delivery vehicles", "Medical equipment", "Solar modules",
             "Construction machinery"),
        ),
        ProductTemplate(
            ProductType.FACTORING, "FA", (100_000, 100_000), (2_000_000, 10_000_000),
            (1, 6), (0.05, 0.12), (0.005, 0.015), (_I,), 0.0,
            ("manufacturing", "wholesale_retail", "construction", "energy", "transport_logistics"),
            (1, 1), 1_000_000, "0.85",
            ("应收账款保理", "供应链保理", "订单保理"),
            ("Receivables Factoring", "Supply Chain Factoring", "Order Factoring"),
            ("应收账款融资", "核心企业供应链账款融资", "订单回款周转"),
            ("Receivables financing", "Supply-chain receivables", "Order-to-cash bridge"),
        ),
        ProductTemplate(
            ProductType.CREDIT_LINE, "CL", (50_000, 50_000), (500_000, 3_000_000),
            (6, 24), (0.045, 0.12), (0.0, 0.003), (_I, _A), 0.0, (), (2, 2),
            300_000, "0.80",
            ("循环授信额度", "随借随还额度", "小微信用额度"),
            ("Revolving Credit Line", "Draw-as-you-go Line", "Micro Business Line"),
            ("季节性备货", "临时资金周转", "支付工资与租金"),
            ("Seasonal stock", "Short-term cash gap", "Payroll and rent"),
        ),
    )
}  # fmt: skip
