"""Every sentence a villager or lawyer reads, in one place so a lawyer can review the wording.

Keep the language plain: short sentences, no jargon, numbers written as digits.
"""

from __future__ import annotations

BOT_NAME = "村律通"

# --------------------------------------------------------------------------- general

GREETING = f"您好！我是{BOT_NAME}，帮您了解法律常识，也能帮您联系本村的法律顾问（律师）。"
ASK_VILLAGE = "请先告诉我您是哪个嘎查（村）的：点下面的按钮一步步选，或者直接打出村名。"
ASK_VILLAGE_AGAIN = "好的，我们重新选村。" + ASK_VILLAGE
PICK_COUNTY = "您在哪个旗（县）？"
PICK_TOWNSHIP = "您在哪个苏木（乡、镇）？"
PICK_VILLAGE = "您是哪个嘎查（村）的？"
VILLAGE_NOT_FOUND = "没找到叫“{name}”的嘎查（村）。请换个写法再试，或者点按钮选。"
VILLAGE_CANDIDATES = "您说的是下面哪一个？"
VILLAGE_SET = "好的，记下了：您是{village}的。"
VILLAGE_CHANGE_HINT = "以后要换村，发“换村”就行。"
WHAT_IS_YOUR_QUESTION = "请直接说说您遇到了什么事，我来帮您看看。"
NO_VILLAGES_CONFIGURED = "系统里还没有录入村子，请联系乡镇司法所。"
BUTTON_RESTART_VILLAGE = "重新选"

HELP = (
    "您可以直接打字说您遇到的事，比如“地被别人占了怎么办”“老板不给工钱”。\n"
    "常用指令：\n"
    "/village 换村\n/lawyer 找律师\n/aid 法律援助自查\n/schedule 律师什么时候来村里\n"
    "/remind 坐班提醒\n/cancel 退出当前步骤\n/forget 删除我的信息"
)
CANCELLED = "好的，已退出。有事可以随时再问我。"
NOTHING_TO_CANCEL = "现在没有进行中的步骤。有事直接说就行。"
UNKNOWN_COMMAND = "我不认识这个指令。" + "\n" + HELP

EMPTY_MESSAGE = "您好像没有写字。请用文字说说您遇到的事。"
EMOJI_ONLY = "收到您的表情了😊 请用文字说说您遇到的事，我才能帮上忙。"
TEXT_ONLY = "目前只能看文字，图片、语音、表情包我还看不懂。请用文字说说您遇到的事。"
TEXT_ONLY_FORWARDED = "收到，已转给{lawyer}看。"
LAWYER_OFFER_LINE = "如果不方便打字，可以点“找律师”，本村法律顾问会联系您。"

PROCESSING_ERROR = "抱歉，系统刚才出了点问题，您的消息已经保存，我们会尽快处理。急事请拨打12348法律服务热线。"

# --------------------------------------------------------------------------- lawyer information

VILLAGE_LAWYER = "{village}的法律顾问是：{name}律师（{firm}），电话 {phone}。"
VILLAGE_LAWYERS_HEADER = "{village}的法律顾问："
VILLAGE_LAWYER_LINE = "· {name}律师（{firm}），电话 {phone}"
NO_LAWYER_ASSIGNED = "{village}暂时还没有指定法律顾问。您的问题可以交给{township}司法所，也可以拨打12348法律服务热线。"
NEED_VILLAGE_FIRST = "请先选好您是哪个村的，我才能告诉您本村的律师。"

# --------------------------------------------------------------------------- safety

EMERGENCY = (
    "⚠️ 如果现在有危险，请马上打电话：\n"
    "· 报警 110（正在被打、被威胁、有人要伤害自己或别人）\n"
    "· 急救 120（有人受伤、喝了农药等）\n"
    "· 家庭暴力也可以打妇女维权热线 12338\n"
    "先保证自己和家人安全，躲到安全的地方，让邻居或村干部帮忙。"
)
EMERGENCY_REPORTED = "我们已经把情况报告给司法所，{who}会尽快联系您。"

# --------------------------------------------------------------------------- scope

OUT_OF_SCOPE = "这个问题我帮不上忙，我只能回答法律方面的问题（比如土地、婚姻家庭、打工工钱、借钱欠钱）。"
GREET_BACK = "您好！有什么法律上的事，直接打字告诉我。"
THANKS_BACK = "不客气！以后有事随时找我。"

# --------------------------------------------------------------------------- answers

DISCLAIMER = "（以上是一般性法律信息，不是律师意见。每个人的情况不一样，需要的话点“找律师”，本村法律顾问会帮您。）"
CITATIONS_PREFIX = "法律依据："
DID_YOU_MEAN = "您是想问："
NOT_SURE = "这个问题我没有把握答好。要不要转给本村的法律顾问（律师）？"
LOW_CONFIDENCE_OFFER = "我不太确定您问的是什么。您可以换个说法再问一次，或者点“找律师”。"

BUTTON_ASK_LAWYER = "找律师"
BUTTON_NONE_OF_THESE = "都不是，找律师"
BUTTON_YES = "是"
BUTTON_NO = "不用了"
BUTTON_LEGAL_AID_CHECK = "法律援助自查"

# --------------------------------------------------------------------------- duty schedule

NEXT_SESSIONS_HEADER = "{village}接下来的律师坐班："
SESSION_LINE = "· {date} {start}–{end}，{place}，{lawyer}律师（{kind}）"
NEXT_SESSION_LINE = "下次来村坐班：{date} {start}–{end}，{place}。"
NO_SESSIONS = "{village}本月暂无律师坐班安排。您可以留言给律师，律师会回复您。"
SESSION_KINDS = {"onsite": "现场咨询", "lecture": "法治讲座", "mediation": "参与调解"}
BUTTON_LEAVE_MESSAGE = "留言给律师"

# --------------------------------------------------------------------------- handoff (villager side)

ASK_DESCRIBE_FOR_LAWYER = "好的，请用一两句话说说您遇到的事，我马上转给本村的法律顾问。"
TICKET_OPENED_LAWYER = (
    "已转给{lawyer}律师（咨询编号 {code}）。律师一般会在{hours}小时内回复您，回复会直接发到这里。"
    "在律师回复前，您再发的消息也会一并转给律师。"
)
TICKET_OPENED_QUEUE = (
    "{village}暂时没有能在线回复的法律顾问，您的问题（编号 {code}）已交给{township}司法所，"
    "工作人员会在{hours}小时内联系您。急事请拨打12348法律服务热线。"
)
TICKET_ALREADY_OPEN = "您的咨询 {code} 还在处理中，{who}会回复您。您发的消息会转给{who}。"
FOLLOW_UP_RELAYED = "已转给{who}（{code}）。"
LAWYER_ANSWER = "{who}回复您（{code}）：\n{text}"
BUTTON_RESOLVED = "问题解决了"
BUTTON_MORE_QUESTIONS = "还有问题"
ADMIN_QUEUE_NAME = "{township}司法所"
LAWYER_NAME = "{name}律师"
TICKET_ESCALATED_VILLAGER = "您的咨询 {code} 律师还没来得及回复，已转交{township}司法所，工作人员会尽快联系您。"
OFFER_LAWYER = "要不要把这个问题转给本村的法律顾问？"
BUTTON_TRANSFER = "转给律师"

RATE_PROMPT = "您的咨询 {code} 已结束。请给这次服务打个分（5分最满意）："
RATE_THANKS = "谢谢您的评价！如果愿意，可以再写一句意见；不想写就发“跳过”。"
RATE_COMMENT_THANKS = "收到您的意见，谢谢！"
RATE_SKIPPED = "好的，谢谢！"
TICKET_REOPENED = "好的，咨询 {code} 重新打开了，请说说您还有什么问题，会转给{who}。"
TICKET_CLOSED_BY_VILLAGER = "好的，这次咨询（{code}）就结束了。"

COMPLAIN_ASK = "请说说您要投诉什么（比如律师没回复、态度不好、坐班没来）。投诉会直接交给司法所，不会交给被投诉的人。"
COMPLAIN_RECEIVED = "您的投诉（编号 {code}）已交给{township}司法所，工作人员会联系您。"
COMPLAIN_NEED_VILLAGE = "请先选好您是哪个村的，投诉才能交给对应的司法所。"

# --------------------------------------------------------------------------- handoff (lawyer side)

NOTIFY_NEW_TICKET = "【新咨询 {code}】{village}\n村民：{name}\n类别：{topic}\n问题：{question}\n直接回复本消息即可答复村民，或发 /reply {code} 您的答复"
NOTIFY_URGENT_TICKET = "【紧急·重大事项 {code}】{village}\n村民：{name}\n内容：{question}\n请立即联系村民并报告司法所。"
NOTIFY_FOLLOW_UP = "【{code} 追问】{name}：{text}"
NOTIFY_ATTACHMENT = "【{code}】{name} 发来一个{kind}，请在管理后台查看或联系村民。"
NOTIFY_SLA_REMINDER = "【提醒】咨询 {code}（{village}）已等待{hours}小时，请尽快回复。"
BUTTON_CLAIM = "认领"
BUTTON_REPLY = "回复"
BUTTON_CLOSE = "关闭"
LAWYER_CLAIMED = "已认领 {code}。直接回复通知消息或发 /reply {code} 内容 答复村民。"
LAWYER_REPLY_PROMPT = "请输入给 {code} 的答复（发“取消”放弃）："
LAWYER_REPLY_SENT = "已发给村民（{code}）。"
LAWYER_CLOSED = "已关闭 {code}，系统会请村民评价。"
LAWYER_NO_PERMISSION = "无权限：{code} 不是您负责的村的咨询。"
LAWYER_TICKET_NOT_FOUND = "没有找到咨询 {code}。"
LAWYER_TICKET_CLOSED = "咨询 {code} 已经关闭了。"
LAWYER_NO_OPEN = "您目前没有待处理的咨询。"
LAWYER_OPEN_HEADER = "您待处理的咨询："
LAWYER_OPEN_LINE = "· {code} {village} {status} {age} — {question}"
LAWYER_HELP = (
    "律师指令：\n/tickets 待处理咨询\n/reply 编号 内容 答复村民（或直接回复通知消息）\n"
    "/close 编号 关闭咨询\n/duty 我的坐班安排\n/done 记录坐班完成\n/unbind 解除绑定"
)
LAWYER_REPLY_USAGE = "格式：/reply T-0001 您的答复"
LAWYER_CLOSE_USAGE = "格式：/close T-0001"
TICKET_STATUS = {
    "open": "待认领",
    "claimed": "已认领",
    "answered": "已答复",
    "escalated": "已转司法所",
    "reopened": "重新打开",
    "closed": "已关闭",
}

BIND_USAGE = "格式：/bind 绑定码（绑定码由司法所在管理后台生成）"
BIND_OK = "绑定成功！您好，{name}律师。以后本村村民的咨询会发到这里。" + "\n" + LAWYER_HELP
BIND_BAD = "绑定码不对或已过期。请向司法所要一个新的绑定码。"
BIND_TOO_MANY = "尝试次数太多，请明天再试或联系司法所。"
UNBIND_OK = "已解除绑定，这个账号以后按普通村民对待。"
MAJOR_EVENT_REPORTED = (
    "这件事涉及很多人，已作为重大事项（编号 {code}）报告{who}，会有人尽快联系您。请大家依法表达诉求，不要堵路、冲突。"
)
KEEP_QUESTION_CHOOSE_VILLAGE = "您的问题我记下了，选好村子后马上回答您。请先选您是哪个嘎查（村）的："

# ---- legal aid (法律援助自查: handlers/legal_aid.py; the rules are in handlers/legal_aid_rules.py)

AID_KEYWORD = "法律援助"  # typed alone it starts the check; kept as the question while the village is chosen
AID_INTRO = (
    "好的，我问您几个问题（1分钟左右），看看您能不能申请免费的法律援助。"
    "点按钮回答就行，也可以打字；发“返回”改上一题，发“取消”退出。"
)
AID_GUESSED = "您问的是：{matter}。不对的话点“返回”重选。"
AID_NEED_VILLAGE = "做法律援助自查前，请先选好您是哪个村的，这样才能告诉您去哪里申请。"
AID_FOR_VILLAGERS = "法律援助自查是给村民用的：村民发“法律援助”就能开始。"
AID_QUESTIONS = {
    "matter": "您要办的是哪方面的事？",
    "matter_more": "还有这些事项（都不是就选“离婚、土地、借钱等其他事”）：",
    "role": "在这个刑事案件里，您（或您的家人）是：",
    "lawyer": "这件事您已经请了律师（代理人）吗？",
    "defender": "犯罪嫌疑人、被告人已经请了辩护律师吗？",
    "special": "犯罪嫌疑人、被告人是下面哪种人吗？",
    "migrant": "您是进城务工人员（农民工）吗？",
    "group": "您是下面这些人吗？（有证明材料的，就不用再核查家里的经济情况）",
    "household": "您家一共几口人（在一起生活的）？",
    "income": "全家每个月总收入大概多少钱？点按钮，或者直接打数字，比如“3000”“一千五”。",
    "deadline": "7天之内，有没有必须办的期限？比如快要开庭，或者申请仲裁、起诉的最后期限快到了。",
}
AID_OPTIONS = {
    "matter": {
        "wages": "讨要工钱",
        "work_injury": "工伤赔偿",
        "accident": "车祸、医疗、食品药品事故赔偿",
        "support": "赡养费、抚养费、扶养费",
        "abuse": "家庭暴力、虐待、遗弃",
        "welfare": "社保待遇、低保、社会救助",
        "criminal": "刑事案件",
        "other": "离婚、土地、借钱等其他事",
        "labour_relation": "确认劳动关系",
        "pension": "抚恤金",
        "state_comp": "国家赔偿",
        "acquitted": "再审改判无罪，要国家赔偿",
        "environment": "环境污染、生态破坏赔偿",
        "capacity": "认定无（限制）民事行为能力",
        "samaritan": "见义勇为",
        "hero": "英雄烈士近亲属维权",
        "retrial": "法院已决定再审或检察院已抗诉",
    },
    "role": {"defendant": "犯罪嫌疑人、被告人", "victim": "被害人、自诉人"},
    "lawyer": {"yes": "已经请了", "no": "还没有"},
    "special": {
        "minor": "未成年人（不满18岁）",
        "sensory": "盲、聋、哑等残疾人",
        "mental": "精神病等，不能完全辨认自己行为",
        "severe": "可能判无期徒刑或死刑",
        "none": "都不是",
    },
    "migrant": {"yes": "是", "no": "不是"},
    "group": {
        "assistance": "低保、特困等社会救助对象",
        "judicial": "司法救助对象",
        "entitled": "优抚对象（烈属、军属等）",
        "no_income": "没有固定收入的老人、未成年人、残疾人",
        "none": "都不是",
    },
    "deadline": {"urgent": "有，不到7天", "later": "有，还有7天以上", "none": "没有或不清楚"},
    "income": {"0": "没有收入", "unknown": "说不清", "below": "少于{amount}元", "above": "{amount}元或更多"},
}
AID_HOUSEHOLD_LABEL = "{n}口人"
AID_HOUSEHOLD_MORE = "{n}口及以上"
AID_OUTCOMES = {"likely": "很可能符合", "maybe": "可能符合，需要核实", "unlikely": "暂不符合", "appoint": "很可能符合"}
AID_RESULT_HEADER = "【法律援助自查结果：{label}】"
AID_URGENT = (
    "⚠️ 期限不到7天！请今天就去法律援助中心或打12348，说清楚期限快到了："
    "法律援助机构可以先提供法律援助，手续以后再补（法律援助法第44条）。"
)
AID_URGENT_NO_AID = "⚠️ 期限不到7天！请抓紧：今天就打12348，或者找本村法律顾问，别错过期限。"
AID_REASONS_HEADER = "为什么："
AID_REASONS = {
    "listed_matter": "“{matter}”是法律援助法列明可以申请法律援助的事（第{article}条）。",
    "no_means_test": "“{matter}”申请法律援助不看经济条件，家里收入多少都可以申请（第32条）。",
    "other_matter": (
        "离婚、土地、借钱这类事，不在法律援助法第31条列出的事项里，"
        "要看地方的法规、规章有没有另外规定（第31条第9项），需要法律援助中心核实。"
    ),
    "victim": "刑事案件的被害人（及其近亲属）、自诉人，因为经济困难没请律师的，可以申请法律援助（第29条）。",
    "retrial": "法院已决定再审或检察院已抗诉的案子，因为经济困难没请律师的，本人或近亲属可以申请（第33条）。",
    "has_lawyer": "您已经请了律师（代理人）。法律援助是给没请律师的人提供的，一般不用再申请。",
    "has_defender": "已经请了辩护律师，就不需要法律援助机构再指派律师了（第24条）。",
    "exempt_migrant": "进城务工人员讨要工钱或工伤赔偿，带上能证明自己身份的材料，就不用再核查家里的经济情况（第42条）。",
    "exempt_group": "您属于“{group}”，带上证明材料，就不用再核查家里的经济情况（第42条）。",
    "below_amount": (
        "您家每人每月大约{per_capita}元，低于{region}的经济困难标准（每人每月{threshold}元），算经济困难（第34条）。"
    ),
    "below_band": "您家每人每月收入低于{region}的经济困难标准（每人每月{threshold}元），算经济困难（第34条）。",
    "above_amount": (
        "您家每人每月大约{per_capita}元，不低于{region}的经济困难标准（每人每月{threshold}元），"
        "按这个标准暂时不算经济困难（第34条）。"
    ),
    "above_band": (
        "您家每人每月收入不低于{region}的经济困难标准（每人每月{threshold}元），按这个标准暂时不算经济困难（第34条）。"
    ),
    "unknown_income": "家里收入说不清也没关系：申请时如实说明经济情况，或者做个人诚信承诺，由法律援助中心核查（第41条）。",
    "threshold_note": "这个金额是系统里配置的参考标准，以{region}正式公布的为准；家里有大病、残疾等特殊困难的，可以向法律援助中心说明。",
    "abuse_hint": "如果这件事里您受到家庭暴力、虐待或遗弃，不看经济条件也能申请（第32条）：发“法律援助”重新自查，事项选“家庭暴力、虐待、遗弃”。",
    "appoint": (
        "犯罪嫌疑人、被告人是“{special}”，没请辩护人的，公安机关、检察院、法院应当通知法律援助机构指派律师，"
        "不看经济条件（第25条）。"
    ),
    "appoint_ask": "请直接向办案的公安机关、检察院或法院提出，要求通知法律援助机构指派律师；他们应当在3日内通知（第36条）。",
    "defendant_hardship": "犯罪嫌疑人、被告人因为经济困难没请辩护人的，本人或近亲属可以申请法律援助（第24条）。",
    "defendant_other": "没请辩护人的，除了经济困难，因为“其他原因”也可以申请（第24条），由法律援助机构决定。",
    "duty_lawyer": "没有辩护人的，可以要求见值班律师，免费提供法律帮助（第30条）。",
}
AID_CITED = "依据：法律援助法{articles}"
AID_ARTICLE = "第{n}条"
AID_DOCUMENTS_HEADER = "申请时带上："
AID_DOCUMENTS = {
    "identity": "身份证明（身份证或户口本）",
    "hardship": "家里经济困难情况的说明，或者个人诚信承诺（要如实写）",
    "proof_migrant": "证明您是进城务工人员的材料（务工证明、劳动合同、工友证明等）",
    "proof_group": "证明您是“{group}”的材料（低保证、特困证、残疾证、优抚证件等）",
}
AID_CASE_DOCUMENTS = {
    "wages": "欠条、工资条、考勤记录、转账或聊天记录、工友证明",
    "labour_relation": "工作证、工资条、考勤、转账或聊天记录、工友证明",
    "work_injury": "病历和诊断证明、工伤认定或伤残鉴定材料、务工证明",
    "accident": "事故认定书、病历、医疗费票据",
    "support": "户口本或亲属关系证明、对方的收入情况",
    "abuse": "报警回执、告诫书、伤情照片、病历、人身安全保护令（有的都带上）",
    "welfare": "申请和被拒绝的材料、社保卡或救助证件",
    "criminal": "拘留通知书、起诉书、判决书等案件材料",
    "retrial": "判决书、再审决定书或抗诉书",
    "acquitted": "改判无罪的判决书",
}
AID_CASE_DOCUMENTS_DEFAULT = "合同、欠条、票据、照片、聊天记录等"
AID_CASE_LINE = "和这件事有关的材料：{docs}"
AID_WHERE = (
    "去哪申请：{centre}，电话 {phone}。打官司的，向法院等办案机关所在地的法律援助机构申请；"
    "不打官司的，向处理纠纷的机关所在地或事情发生地的申请（第38条）。收到申请后7日内决定给不给（第43条）。"
)
AID_WHERE_DEFAULT_CENTRE = "您所在旗（县）司法局的法律援助中心"
AID_HOTLINE = "不清楚的，可以打 12348 法律服务热线问。"
AID_ALTERNATIVES = (
    "您还可以：\n· 找村（嘎查）的人民调解委员会调解，不收费（人民调解法第4条）\n"
    "· 打12348法律服务热线免费咨询\n· 请本村法律顾问免费帮您出主意"
)
AID_NOT_FINAL = "（这是根据您的回答做的初步判断，不是正式决定，以法律援助机构审查为准。）"
AID_OFFER = "要不要请本村法律顾问帮您申请？"
AID_OFFER_ADVICE = "要不要请本村法律顾问帮您看看？"
BUTTON_AID_HANDOVER = "请律师帮我申请"
BUTTON_AID_ADVICE = "请律师帮我看看"
BUTTON_AID_NO = "不用了"
BUTTON_AID_BACK = "返回"
BUTTON_AID_MORE = "更多事项"
BUTTON_AID_CONTINUE = "继续自查"
BUTTON_AID_RESTART = "重新自查"
BUTTON_AID_EXIT = "退出"
AID_UNCLEAR = "没看明白您的回答。请点下面的按钮，或者照按钮上的字回答。"
AID_UNCLEAR_AGAIN = "还是没看明白。要不要直接请本村法律顾问帮您看？也可以继续自查。"
AID_DONE = "好的。以后需要，发“法律援助”可以再查一次，也可以打12348法律服务热线。"
AID_FIRST_QUESTION = "这已经是第一个问题了。"
AID_ENDED = "这次自查已经结束了。要再查一次，点“重新自查”。"
AID_TICKET_QUESTION = "【法律援助自查：{label}】请帮村民申请法律援助。\n{lines}"
AID_TICKET_URGENT = "⚠️ 期限不到7天，请尽快联系"
AID_TICKET_UNFINISHED = "未做完"
AID_TICKET_ASKED = "村民原来的问题：{text}"
AID_TICKET_SUMMARY = "法律援助自查：{label}（法律援助法{articles}）"
AID_TICKET_SUMMARY_UNFINISHED = "法律援助自查：未做完"
AID_TICKET_CITED = "依据：法律援助法{articles}"
AID_SUMMARY_LINE = "{title}：{answer}"
AID_SUMMARY_TITLES = {
    "matter": "事项",
    "role": "身份",
    "lawyer": "已请律师",
    "special": "特殊情形",
    "migrant": "进城务工人员",
    "group": "特定群体",
    "household": "家庭人口",
    "income": "全家月收入",
    "deadline": "期限",
}
AID_INCOME_VALUE = "{amount}元"
AID_SENT_TO_OPEN_TICKET = "自查结果已经转给{who}（咨询 {code}），会有人联系您。"

# ---- Telegram
# The command menu Telegram shows next to the text box (set_my_commands): (command, description).
TELEGRAM_VILLAGER_COMMANDS = (
    ("start", "开始 / 选择您的嘎查（村）"),
    ("village", "换村"),
    ("lawyer", "找本村律师"),
    ("aid", "法律援助自查"),
    ("schedule", "律师什么时候来村里"),
    ("remind", "坐班提醒"),
    ("cancel", "退出当前步骤"),
)
TELEGRAM_LAWYER_COMMANDS = (
    ("bind", "绑定律师账号：/bind 绑定码"),
    ("tickets", "待处理的咨询"),
    ("reply", "答复村民：/reply 编号 内容"),
    ("close", "关闭咨询：/close 编号"),
    ("duty", "我的坐班安排"),
    ("done", "记录坐班完成"),
)

# ---- duty scheduler (reminders, /duty, /done, /remind, SLA escalation notices)

DUTY_REMIND_LAWYER_EVE = "【明日坐班】{date} {start}–{end}，{village}，地点：{place}（{kind}）。"
DUTY_REMIND_LAWYER_SOON = "【{hours}小时后坐班】今天 {start}–{end}，{village}，地点：{place}。"
DUTY_RECORD_PROMPT = "【坐班记录】{date} {start}–{end} {village}的坐班结束了，请点按钮记录：完成了（时长、接待人数），或者没去成（原因）。"
DUTY_REMIND_VILLAGER_ADVANCE = "【律师坐班提醒】{lawyer}律师将于{date} {start}–{end}在{place}{activity}，有法律问题可以当面咨询，可带上相关材料（合同、欠条、证件、照片等）。不想再收到提醒，发“取消提醒”。"
DUTY_REMIND_VILLAGER_MORNING = "【今天律师坐班】{lawyer}律师今天 {start}–{end}在{place}{activity}，可带上相关材料。"
#: What villagers are told a session is; only these kinds are announced (a mediation is private).
DUTY_VILLAGER_ACTIVITY = {"onsite": "现场坐班", "lecture": "举办法治讲座"}
DUTY_CANCELLED_LAWYER = "【坐班取消】原定{date} {start}–{end}在{village}{place}的坐班已取消{reason}。"
DUTY_CANCELLED_VILLAGER = (
    "【坐班取消】原定{date} {start}在{place}的律师坐班取消了{reason}。有问题可以直接在这里留言给律师。"
)
DUTY_REASON = "（原因：{reason}）"
DUTY_MOVED = "【坐班改期】原定{old_date} {old_start}在{old_place}（{village}）的律师坐班，改到{date} {start}–{end}，{lawyer}律师，地点：{place}。"
BUTTON_DUTY_DONE = "完成了"
BUTTON_DUTY_MISSED = "没去成"
DUTY_WORKLOG_CONTENT = "驻村{kind}（{place}）"
DUTY_WORKLOG_RESULT = "坐班{hours}小时，接待{people}人次"
DUTY_WORKLOG_PERSON = "村民{people}人次"

LAWYER_DUTY_HEADER = "您接下来的坐班："
LAWYER_DUTY_LINE = "· {date} {start}–{end} {village}，{place}（{kind}）"
LAWYER_DUTY_NONE = "您近期没有坐班安排。"
LAWYER_DUTY_UNRECORDED = "还有{count}次坐班没有记录，发 /done 记录。"
LAWYER_DONE_PICK = "记录哪一次坐班？"
LAWYER_DONE_NONE = "没有待记录的坐班。"
LAWYER_DONE_WHICH = "{date} {start}–{end} {village}的坐班："
LAWYER_DONE_ASK_HOURS = "{date} {village}：实际坐班几个小时？点按钮或直接输入数字（比如 4 或 3.5）。"
LAWYER_DONE_ASK_PEOPLE = "接待了多少人次？请输入数字（没有人来就输入 0）。"
LAWYER_DONE_BAD_HOURS = "请输入0到12之间的小时数，比如 4 或 3.5（发“取消”放弃）。"
LAWYER_DONE_BAD_PEOPLE = "请输入人数，比如 6（发“取消”放弃）。"
LAWYER_DONE_OK = "已记录：{date} {village}坐班{hours}小时，接待{people}人次，已写入工作台账。"
LAWYER_MISSED_ASK_REASON = "{date} {village}的坐班没去成，请说一下原因（会报给司法所）："
LAWYER_MISSED_OK = "已记录：{date} {village}的坐班没去成（{reason}）。请和司法所商量补班时间。"
LAWYER_DUTY_NOT_FOUND = "没有找到这次坐班，或者它不是您的。"
LAWYER_DUTY_ERROR = "没能记录：{error}"
LAWYER_DUTY_NOT_STARTED = "{date} {start} {village}的坐班还没开始，结束后再记录。"
LAWYER_DUTY_ALREADY = "{date} {village}的坐班{state}。"
DUTY_STATUS = {"planned": "计划中", "done": "已完成", "cancelled": "已取消", "missed": "没去成"}
BUTTON_HOURS = "{hours}小时"

REMIND_ON = "好的，已开启坐班提醒：律师来{village}坐班前{days}天和当天早上，会提醒您。不想要了发“取消提醒”。"
REMIND_OFF = "好的，已关闭坐班提醒。想再开启就发“提醒我”。"
REMIND_STATUS_ON = "您已开启{village}的律师坐班提醒。"
REMIND_STATUS_OFF = "您还没有开启律师坐班提醒。开启后，律师来{village}坐班前{days}天和当天早上会提醒您。"
REMIND_USAGE = "格式：/remind on 开启提醒，/remind off 关闭提醒。"
REMIND_LAWYER = "律师账号会自动收到自己的坐班提醒，不用开启。发 /duty 查看坐班安排。"
REMIND_NEED_VILLAGE = "请先选好您是哪个村的，才能提醒您本村律师什么时候来。"
BUTTON_REMIND_ON = "开启提醒"
BUTTON_REMIND_OFF = "关闭提醒"

SLA_ESCALATED_LAWYER = (
    "【已转司法所】咨询 {code} 超过{hours}小时没有回复，已转交{township}司法所跟进。您仍然可以直接回复村民。"
)

# ---- WeChat Official Account (bot/wechat.py): passive replies cannot carry buttons
WECHAT_OPTIONS_HEADER = "回复数字选择："
WECHAT_OPTION_LINE = "{number}. {label}"
# A template message outside the 48-hour window: a notice only, never the content itself.
WECHAT_TEMPLATE_FIRST = "您有一条新消息（律师答复或提醒），还没有发给您。"
WECHAT_TEMPLATE_KIND = "法律咨询"
WECHAT_TEMPLATE_REMARK = "请在公众号里回复任意文字（比如“查看”），消息就会马上发给您。"
# The Official Account's menu (`villagelaw wechat menu`): (label, command) — a click runs the command.
WECHAT_MENU = (("找律师", "lawyer"), ("坐班时间", "schedule"), ("更多", (("换村", "village"), ("使用帮助", "help"))))

# ---- console: village contact card (便民联系卡 / 公示牌), printed and posted in the village

CARD_KICKER = "一村（社区）一法律顾问 · 公示牌"
CARD_TITLE = "便民法律服务联系卡"
CARD_LAWYER_HEADER = "本村法律顾问"
CARD_LAWYER_LINE = "{name}律师　{firm}"
CARD_LAWYER_PHONE = "电话：{phone}"
CARD_NO_LAWYER = "本村法律顾问正在安排中，有法律问题请先联系司法所或拨打12348。"
CARD_DUTY_HEADER = "律师驻村坐班（近期）"
CARD_DUTY_LINE = "{date} {start}–{end}　{place}"
CARD_NO_DUTY = "坐班时间另行通知，也可以扫码询问。"
CARD_TOWNSHIP_PHONE = "{township}司法所：{phone}"
CARD_HOTLINE = "12348 公共法律服务热线"
CARD_WECHAT = "微信扫码 · 关注后直接提问"
CARD_TELEGRAM = "Telegram 扫码提问"
CARD_PLACEHOLDER = ("（示例码，不能扫码使用）", "尚未配置{what}")
CARD_FOOTER = "扫码即可向本村律师咨询，免费。紧急情况请拨打110。"
CARD_CODE = "村代码 {code}（扫码后自动选好本村）"

# ---- hardening (rate limit, deleting a villager's data)

RATE_LIMITED = "您发得太快了，请稍等再发。刚才的消息已经收到并保存，过一分钟再发新的问题就行。"
FORGET_CONFIRM = (
    "确定要删除您的信息吗？\n"
    "会删除：您发过的所有消息的内容、您的称呼、您选的村、法律援助自查的回答。\n"
    "您的咨询记录会匿名保留（只留下次数、类别和日期，律师工作台账要用），正在处理的咨询会关闭。\n"
    "删除后不能恢复。"
)
BUTTON_FORGET_YES = "确认删除"
BUTTON_FORGET_NO = "不删了"
FORGET_DONE = "已删除您的信息：{messages}条消息的内容已清除，{tickets}件咨询已匿名。以后有问题，直接发消息就行。"
FORGET_KEPT = "好的，没有删除任何信息。"
FORGET_LAWYER = "律师账号的信息由司法所管理，请联系司法所办理。"
FORGET_LAWYER_NOTICE = "【咨询已关闭】{code} 的村民要求删除个人信息，这件咨询已关闭，内容已清除，不用再回复。"
FORGOTTEN = "（村民已删除）"
