"""Write nlu/statutes.jsonl: the statute articles the intent classifier learns from as weak examples.

Each article of ../shared/data/laws/articles.jsonl whose law (or Civil Code part/chapter) belongs to one
legal topic is labelled with that topic; laws that span topics (民事诉讼法, 人民调解法, the Civil
Code's general part, the protection laws for women, minors and the elderly) are left out. Statute
text is not how villagers write, so the classifier gives these examples a small weight
(``nlu.classifier.STATUTE_WEIGHT``): they add the topics' vocabulary, not their phrasing.

The file is vendored so that a fresh clone trains without ../shared. Rerun after the laws change:
    python scripts/vendor_statutes.py
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAWS = ROOT.parent / "shared" / "data" / "laws" / "articles.jsonl"
OUT = ROOT / "nlu" / "statutes.jsonl"

LAW_TOPICS = {
    "劳动合同法": "labor",
    "劳动法": "labor",
    "劳动争议调解仲裁法": "labor",
    "工伤保险条例": "labor",
    "保障农民工工资支付条例": "labor",
    "农村土地承包法": "land",
    "土地管理法": "land",
    "土地管理法实施条例": "land",
    "草原法": "land",
    "农村集体经济组织法": "land",
    "国有土地上房屋征收与补偿条例": "land",
    "反家庭暴力法": "marriage_family",
    "道路交通安全法": "traffic_accident",
    "刑法": "criminal",  # 刑事诉讼法 left out: 308 procedure articles, no better on the dev benchmark
    "法律援助法": "legal_aid",
    "治安管理处罚法": "other_legal",
    "村民委员会组织法": "other_legal",
}
#: Contract types villagers hardly meet; leaving them out kept the dev score and shrank the file.
RARE_CONTRACTS = (
    "融资租赁", "保理", "技术合同", "仓储合同", "行纪合同", "多式联运", "供用电", "中介合同",
    "保管合同", "运输合同", "承揽合同", "委托合同", "合伙合同", "赠与合同",
)  # fmt: skip


def civil_code_topic(chapter: str) -> str | None:
    if chapter.startswith(("婚姻家庭编", "继承编")):
        return "marriage_family"
    if chapter.startswith("合同编"):
        return None if any(name in chapter for name in RARE_CONTRACTS) else "debt_contract"
    if chapter.startswith("物权编 / 第四分编 担保物权"):
        return "debt_contract"
    if chapter.startswith("侵权责任编"):
        return "traffic_accident" if "机动车交通事故责任" in chapter else "tort"
    return None


def main() -> int:
    if not LAWS.exists():
        print(f"{LAWS} not found", file=sys.stderr)
        return 1
    count = 0
    with LAWS.open(encoding="utf-8") as src, OUT.open("w", encoding="utf-8") as out:
        for line in src:
            row = json.loads(line)
            law = row["law"]
            topic = civil_code_topic(row.get("chapter") or "") if law == "民法典" else LAW_TOPICS.get(law)
            if topic:
                item = {"intent": topic, "law": law, "article": row["label"], "text": row["text"]}
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
                count += 1
    print(f"{count} articles → {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
