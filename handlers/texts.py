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
    "/remind 坐班提醒\n/cancel 退出当前步骤"
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

# ---- WeChat Official Account (bot/wechat.py): passive replies cannot carry buttons
WECHAT_OPTIONS_HEADER = "回复数字选择："
WECHAT_OPTION_LINE = "{number}. {label}"
# A template message outside the 48-hour window: a notice only, never the content itself.
WECHAT_TEMPLATE_FIRST = "您有一条新消息（律师答复或提醒），还没有发给您。"
WECHAT_TEMPLATE_KIND = "法律咨询"
WECHAT_TEMPLATE_REMARK = "请在公众号里回复任意文字（比如“查看”），消息就会马上发给您。"
# The Official Account's menu (`villagelaw wechat menu`): (label, command) — a click runs the command.
WECHAT_MENU = (("找律师", "lawyer"), ("坐班时间", "schedule"), ("更多", (("换村", "village"), ("使用帮助", "help"))))
