"""Regenerate the binary and legacy-encoded files of the sample document set in `data/sample/`.

Why this script exists: a PDF, a DOCX and a CP932 text file cannot be reviewed or edited as text in
a diff, so their content is kept here as UTF-8 string constants and the files are built from it. Edit
the text below, run the script, and commit the regenerated files together with the script:

    python data/make_binary_samples.py

It writes

* `sample/人事/就業規則.txt` - CP932 (Windows Shift_JIS) with CRLF line endings, as such files come
  from Windows file servers; it uses characters (①, ㈱) that exist in CP932 but not in plain Shift_JIS.
* `sample/人事/新入社員オンボーディングガイド.pdf` - reportlab with the built-in Japanese CID font
  HeiseiKakuGo-W5 (no font file is embedded or needed); pypdf extracts the text as Unicode.
* `sample/IT/情報セキュリティポリシー.docx` - python-docx with real "Heading 1"/"Heading 2" styles,
  bulleted lists and one table.

The output is reproducible: the PDF is written in reportlab's invariant mode and the DOCX zip entries
and core properties carry fixed timestamps, so running the script twice gives identical bytes.

The company, people, addresses and numbers in all samples are fictional and were written for this
project. The `.example` domain is reserved and never resolves.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docx.styles.style import BaseStyle

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"

WORK_RULES_PATH = SAMPLE_DIR / "人事" / "就業規則.txt"
ONBOARDING_PATH = SAMPLE_DIR / "人事" / "新入社員オンボーディングガイド.pdf"
SECURITY_PATH = SAMPLE_DIR / "IT" / "情報セキュリティポリシー.docx"

# A fixed timestamp for document metadata, so that regenerated files are byte-identical.
FIXED_TIME = dt.datetime(2024, 4, 1, 9, 0, 0, tzinfo=dt.timezone.utc)

# --------------------------------------------------------------------------------------------------
# 就業規則 (CP932, CRLF). Plain text, paragraphs separated by blank lines.
# --------------------------------------------------------------------------------------------------

WORK_RULES_TEXT = """\
㈱サクラテック　就業規則（抜粋版）

制定：2015年4月1日　最終改定：2024年4月1日
所管：人事部 労務グループ（内線 2100）

本書は就業規則のうち、従業員からの問い合わせが多い条文を抜粋したものです。全文は社内ポータルの「規程集」に掲載しています。本書と全文の内容が異なる場合は全文が優先します。

━━━━━━━━━━━━━━━━━━━━
第1章　総則
━━━━━━━━━━━━━━━━━━━━

第1条（目的）
この規則は、株式会社サクラテック（以下「会社」という）の従業員の労働条件、服務規律その他の就業に関する事項を定めるものである。

第2条（適用範囲）
この規則は、会社と期間の定めのない雇用契約を締結した正社員に適用する。契約社員、パートタイム社員および派遣社員の就業条件は、それぞれ別に定める規程による。

第3条（規則の遵守）
会社および従業員は、この規則を誠実に守り、互いに協力して業務の発展に努めなければならない。

━━━━━━━━━━━━━━━━━━━━
第2章　勤務時間、休憩および休日
━━━━━━━━━━━━━━━━━━━━

第10条（所定労働時間）
所定労働時間は1日8時間、1週40時間とする。始業時刻は午前9時00分、終業時刻は午後6時00分とする。業務の都合により、事前に通知したうえで始業・終業時刻を繰り上げまたは繰り下げることがある。

第11条（休憩）
休憩時間は正午から午後1時までの60分とする。業務の都合により休憩時間をずらす場合は、所属長の承認を得て同じ長さの休憩を別の時間帯に取得する。

第12条（フレックスタイム制）
労使協定を締結した部門では、所属長の承認を得た従業員にフレックスタイム制を適用する。
① コアタイム：午前10時～午後3時（この時間帯は原則として勤務すること）
② フレキシブルタイム：午前7時～午後10時
③ 清算期間：毎月1日から末日までの1か月

第13条（休日）
休日は次のとおりとする。
① 土曜日および日曜日
② 国民の祝日
③ 年末年始（12月29日～1月3日）
④ 創立記念日（6月15日）
⑤ その他会社が指定する日

第14条（時間外労働および休日労働）
時間外労働または休日労働を行う場合は、事前に勤怠システム「サクラ勤怠」で申請し、所属長の承認を得なければならない。時間外労働は月45時間、年360時間を上限とする。

第15条（遅刻、早退および欠勤）
遅刻、早退または欠勤をするときは、始業時刻までに所属長へ電話または社内チャットで連絡し、後日サクラ勤怠で届け出なければならない。

━━━━━━━━━━━━━━━━━━━━
第3章　休暇
━━━━━━━━━━━━━━━━━━━━

第20条（年次有給休暇）
① 入社日から6か月間継続して勤務し、所定労働日の8割以上出勤した従業員には、10日の年次有給休暇を付与する。その後は勤続年数に応じて、次の表の日数を毎年付与する。

　勤続年数　　　　　付与日数
　6か月　　　　　　10日
　1年6か月　　　　 11日
　2年6か月　　　　 12日
　3年6か月　　　　 14日
　4年6か月　　　　 16日
　5年6か月　　　　 18日
　6年6か月以上　　 20日

② 入社日から6か月に達するまでの期間に使える「入社時特別休暇」として、入社日に3日を付与する。この休暇は有給とし、入社後6か月を過ぎると消滅する。
③ 当年度に使わなかった年次有給休暇は翌年度に限り繰り越すことができる。保有できる日数は繰越分を含めて最大40日とする。
④ 年次有給休暇は1日単位のほか、半日単位（午前休：9時～13時、午後休：14時～18時）で取得できる。時間単位での取得は1年につき5日分（40時間）までとする。
⑤ 年次有給休暇を取得するときは、原則として3営業日前までにサクラ勤怠で申請する。病気など急な事情による当日の申請は、始業時刻までに所属長へ連絡したうえで事後に申請することができる。
⑥ 年10日以上付与される従業員は、付与日から1年以内に5日以上を取得しなければならない。

第21条（慶弔休暇）
従業員が次の各号に該当するときは、申請により慶弔休暇を与える。慶弔休暇は有給とし、休日を含まず営業日で数える。
① 本人が結婚するとき：5日（婚姻の日から6か月以内に取得）
② 子が結婚するとき：2日
③ 配偶者が出産するとき：3日（出産予定日の前後2週間以内に取得）
④ 配偶者、子または父母が死亡したとき：5日
⑤ 祖父母、兄弟姉妹または配偶者の父母が死亡したとき：3日
⑥ 上記以外の2親等以内の親族が死亡したとき：1日
慶弔休暇を取得するときは「慶弔休暇届」を人事部に提出する。会葬礼状、婚姻届受理証明書など事実を確認できる書類は、休暇の終了後1か月以内に提出すればよい。

第22条（リフレッシュ休暇）
勤続10年に達した従業員には5日、勤続20年に達した従業員には10日のリフレッシュ休暇を与える。達した日から1年以内に連続して取得するものとする。

第23条（病気休暇）
私傷病による療養のため、年5日まで有給の病気休暇を取得できる。連続して4日以上休む場合は、医師の診断書を人事部に提出しなければならない。

第24条（産前産後休業、育児休業および介護休業）
産前産後休業、育児休業、介護休業、子の看護休暇および介護休暇については、別に定める「育児・介護休業規程」による。

━━━━━━━━━━━━━━━━━━━━
第4章　服務規律
━━━━━━━━━━━━━━━━━━━━

第30条（服務の基本原則）
従業員は、職務上の責任を自覚し、誠実に職務を遂行するとともに、会社の信用を傷つける行為をしてはならない。

第31条（秘密保持）
従業員は、在職中および退職後において、業務上知り得た会社、取引先および顧客の秘密を第三者に漏らしてはならない。情報の取り扱いは「情報セキュリティポリシー」に従う。

第32条（副業および兼業）
従業員が副業または兼業を行う場合は、開始の1か月前までに「副業届」を人事部に提出し、会社の承認を得なければならない。競業にあたる業務、および長時間労働により健康を損なうおそれのある業務は承認しない。

━━━━━━━━━━━━━━━━━━━━
第5章　賃金
━━━━━━━━━━━━━━━━━━━━

第40条（賃金の計算期間および支払日）
賃金は毎月1日から末日までを計算期間とし、翌月25日に従業員が指定した本人名義の銀行口座へ振り込む。25日が銀行の休業日にあたるときは、その直前の営業日に支払う。賃金の詳細は別に定める「賃金規程」による。

附則
この規則は2024年4月1日から改定施行する。
"""  # noqa: E501 - one paragraph per line: a hard break inside a Japanese sentence would split words

# --------------------------------------------------------------------------------------------------
# Source text for the DOCX and the PDF, in a tiny markup:
#   "= text" document title, "# text" heading 1, "## text" heading 2, "- text" bullet,
#   "| a | b |" table row (the first row of a table is its header),
#   a blank line ends a paragraph; consecutive plain lines are joined into one paragraph without a
#   space (the sources are Japanese).
# --------------------------------------------------------------------------------------------------

SECURITY_POLICY_SOURCE = """\
= 情報セキュリティポリシー

株式会社サクラテック　情報システム部

文書番号：IS-POL-001　第4版　施行日：2024年4月1日

# 1. 目的と適用範囲

本ポリシーは、当社および顧客の情報資産を漏えい、改ざん、消失から守るために、すべての従業員が守るべき基本ルールを定めるものです。正社員、契約社員、パートタイム社員、派遣社員および業務委託先の常駐者に適用します。

本ポリシーに違反した場合は、就業規則に基づく懲戒の対象となることがあります。判断に迷うときは、自己判断せずに情報システム部（内線 4400）へ相談してください。

# 2. 情報の分類と取り扱い

## 2.1 情報の分類

当社が扱う情報は、重要度に応じて次の4区分に分類します。文書を作成した部署が区分を決め、文書の表紙またはファイル名に区分を明記してください。

| 区分 | 例 | 保存場所と共有の条件 |
| 極秘 | M&A資料、未公表の決算情報、人事評価 | 指定フォルダのみ。印刷禁止。閲覧者を個人単位で限定する |
| 社外秘 | 顧客の個人情報、見積書、ソースコード | 社内ファイルサーバーまたは承認済みクラウド。社外共有は部長承認が必要 |
| 社内限り | 社内規程、議事録、組織図 | 社内での共有は自由。社外への持ち出しは禁止 |
| 公開 | プレスリリース、製品カタログ | 制限なし |

## 2.2 社外への送付

社外秘以上の情報をメールで送るときは、パスワード付きZIPファイルを添付する方式（いわゆるPPAP）を使ってはいけません。承認済みのファイル共有サービスでダウンロードリンクを発行し、有効期限を7日以内に設定してください。

# 3. アカウントとパスワード

## 3.1 パスワードの要件

- パスワードは12文字以上とし、英大文字、英小文字、数字、記号のうち3種類以上を含めること。
- 他のサービスで使っているパスワードを使い回さないこと。
- パスワードを他人に教えたり、付箋やメモに書いて端末に貼ったりしないこと。
- 会社が配布するパスワード管理ツールの利用を推奨します。

定期的なパスワード変更は求めません。ただし、漏えいの疑いがあるとき、またはフィッシングサイトに入力してしまったときは、直ちに変更してITヘルプデスクに報告してください。パスワードを忘れた場合の再設定方法は「ITヘルプデスクFAQ」を参照してください。

## 3.2 多要素認証

社内システム、メールおよびVPNへのログインには、多要素認証（MFA）を必須とします。認証アプリを登録したスマートフォンを機種変更するときは、旧端末を手放す前にITヘルプデスクで再登録の手続きをしてください。

# 4. 端末とデータの管理

## 4.1 会社貸与PC

- 離席するときは必ず画面をロックすること（Windowsキー＋L）。5分間操作がないと自動でロックされます。
- ディスク暗号化、ウイルス対策ソフトおよびOSの自動更新を無効にしないこと。
- 許可されていないソフトウェアをインストールしないこと。必要なソフトウェアはITヘルプデスクに申請してください。
- USBメモリなどの外部記憶媒体は、情報システム部が貸し出す暗号化USBメモリ以外は使用禁止です。

## 4.2 私物端末の利用

私物のスマートフォンやタブレットで利用できるのは、メール、カレンダーおよび社内チャットに限ります。利用するには端末管理（MDM）への登録が必要です。私物PCから社内システムに接続することは認めません。

## 4.3 社外での作業

カフェ、新幹線など人目のある場所で社外秘以上の情報を扱うときは、のぞき見防止フィルターを使用してください。公衆無線LANを使う場合は、必ずVPNに接続してから業務を行ってください。

# 5. 外部サービスと生成AI

会社が承認していないクラウドサービスに業務データを保存してはいけません。承認済みサービスの一覧は社内ポータルの「IT利用ガイド」に掲載しています。

生成AIサービスは、情報システム部が承認した社内向け環境に限り利用できます。社外秘以上の情報、顧客の個人情報およびソースコードを外部の生成AIサービスに入力することは禁止します。

# 6. セキュリティ事故の報告

次のような事故や、その疑いに気づいたときは、1時間以内にITヘルプデスク（内線 4400）へ報告してください。夜間・休日は security@sakuratech.example へメールし、あわせて所属長に連絡してください。

- PC、スマートフォン、社員証または書類の紛失・盗難
- 不審なメールの添付ファイルを開いた、またはリンク先でIDやパスワードを入力した
- 誤った宛先へのメール送信やファイル共有
- ウイルス対策ソフトの警告が表示された

報告が遅れるほど被害は大きくなります。自分のミスであっても、隠さずにすぐ報告してください。報告したこと自体を理由に不利益な扱いをすることはありません。

# 7. 教育と点検

全従業員は、毎年6月に実施する情報セキュリティeラーニングを受講し、理解度テストで80点以上を取る必要があります。新入社員は入社後7日以内に受講してください。また、年2回、予告なしに標的型メール訓練を行います。

本ポリシーは情報セキュリティ委員会が毎年見直し、改定した場合は社内ポータルで告知します。
"""  # noqa: E501

ONBOARDING_SOURCE = """\
= 新入社員オンボーディングガイド

株式会社サクラテック　人事部　2024年度版

ご入社おめでとうございます。このガイドは、入社初日から最初の3か月までに必要な準備と手続きをまとめたものです。入社前に一度目を通し、初日に持参するものを確認しておいてください。不明な点は人事部 採用・育成グループ（内線 2150、onboarding@sakuratech.example）までお問い合わせください。

## 1. 入社初日のスケジュール

入社初日は午前9時30分までに本社3階の総合受付にお越しください。受付で氏名を伝えると、人事部の担当者がお迎えにあがります。初日は私服でも構いませんが、配属先によっては来客対応があるため、オフィスカジュアルをおすすめします。

| 時刻 | 内容 | 場所 |
| 9:30 | 受付、入館証の受け取り | 本社3階 総合受付 |
| 9:45 | 入社手続き、書類の提出、雇用契約の確認 | 3階 研修室A |
| 11:00 | PCの受け取りとアカウントの初期設定 | 5階 ITヘルプデスク |
| 12:00 | 配属先のメンバーとの昼食 | 社員食堂（2階） |
| 13:30 | オリエンテーション（就業規則、情報セキュリティ、経費精算） | 3階 研修室A |
| 16:00 | 配属先へ移動、メンターとの顔合わせ | 各部署 |
| 18:00 | 終了 | |

## 2. 入社初日に持参するもの

次の書類と持ち物を、初日に必ずお持ちください。書類の様式は内定時にお送りした「入社書類一式」に同封しています。

- 雇用契約書（署名・押印済みのもの）
- 身元保証書（保証人の署名が必要です）
- 基礎年金番号通知書または年金手帳のコピー
- 雇用保険被保険者証（前職がある方のみ）
- 前職の源泉徴収票（その年に前職で給与を受け取った方のみ）
- マイナンバーカード、またはマイナンバー通知カードと本人確認書類
- 給与振込口座届と、通帳またはキャッシュカードのコピー
- 通勤経路届（自宅から本社までの経路と定期代）
- 健康診断書（入社前3か月以内に受診したもの）
- 社員証用の顔写真データ（縦4cm×横3cm相当、事前にメールで送付済みの方は不要）
- 筆記用具と印鑑（認印で可）

書類が初日に揃わない場合は、入社後2週間以内に人事部へ提出してください。

## 3. 最初の1週間

- 社員証は入社から約1週間で発行されます。それまでは受付で渡す仮入館証を使ってください。
- 情報セキュリティとコンプライアンスのeラーニングを入社後7日以内に受講してください。
- 勤怠システム「サクラ勤怠」に毎日の出勤・退勤を打刻してください。打刻を忘れたときは翌営業日までに修正申請をします。
- 社内ポータル、社内チャット、メールの初期パスワードは初日に必ず変更してください。多要素認証（MFA）の設定もあわせて行います。

## 4. 最初の3か月

入社後3か月間は試用期間です。試用期間中の給与や待遇は本採用後と変わりません。配属先では先輩社員がメンターとしてつき、隔週で1on1ミーティングを行います。入社後30日、60日、90日の時点で所属長との面談を行い、業務の習熟度と困りごとを確認します。

テレワークは試用期間の終了後から利用できます。詳しくは「Remote Work Policy」を参照してください。

## 5. 給与と社会保険

給与は毎月末日締め、翌月25日払いです。4月1日入社の場合、最初の給与は5月25日に、4月1日から4月30日までの1か月分が支払われます（4月25日の支給はありません）。通勤手当は最も経済的な経路の定期代を、月5万円を上限として支給します。健康保険証は入社後2～3週間で人事部から配付します。

## 6. 困ったときの連絡先

| 内容 | 担当部署 | 内線 |
| 入社手続き、給与、社会保険 | 人事部 | 2100 |
| 研修、メンター制度 | 人事部 採用・育成グループ | 2150 |
| PC、アカウント、VPN | ITヘルプデスク | 4400 |
| 経費精算、出張費 | 経理部 | 3300 |
| 社員証、座席、郵便物、会議室 | 総務部 | 1500 |

一緒に働けることを楽しみにしています。わからないことは遠慮なく周りの人に聞いてください。
"""  # noqa: E501


# --------------------------------------------------------------------------------------------------
# The tiny markup parser shared by the DOCX and PDF builders.
# --------------------------------------------------------------------------------------------------


@dataclass
class Block:
    """One structural element of a source document."""

    kind: str  # "title" | "h1" | "h2" | "p" | "li" | "table"
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)


def parse_markup(source: str) -> list[Block]:
    """Split the markup described above into headings, paragraphs, bullets and tables."""
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("p", "".join(paragraph)))
            paragraph.clear()

    for raw in source.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("## "):
            flush()
            blocks.append(Block("h2", line[3:]))
        elif line.startswith("# "):
            flush()
            blocks.append(Block("h1", line[2:]))
        elif line.startswith("= "):
            flush()
            blocks.append(Block("title", line[2:]))
        elif line.startswith("- "):
            flush()
            blocks.append(Block("li", line[2:]))
        elif line.startswith("|"):
            flush()
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if blocks and blocks[-1].kind == "table":
                blocks[-1].rows.append(cells)
            else:
                blocks.append(Block("table", rows=[cells]))
        else:
            paragraph.append(line)
    flush()
    return blocks


# --------------------------------------------------------------------------------------------------
# CP932 text
# --------------------------------------------------------------------------------------------------


def write_work_rules(path: Path) -> None:
    """Write the work rules as CP932 with CRLF, refusing text that would not round-trip."""
    text = WORK_RULES_TEXT.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode("cp932")
    if data.decode("cp932") != text:
        raise ValueError("work rules text does not round-trip through cp932")
    try:
        text.encode("shift_jis")
    except UnicodeEncodeError:
        pass  # intended: the file must need cp932, not plain Shift_JIS, to be decoded
    else:
        raise ValueError("work rules text should contain at least one cp932-only character")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --------------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------------


def _set_east_asian_font(style: BaseStyle, font_name: str) -> None:
    """Word picks Japanese glyphs from w:rFonts/@w:eastAsia, which python-docx does not expose."""
    from docx.oxml.ns import qn

    rpr = style.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, rfonts)
    rfonts.set(qn("w:eastAsia"), font_name)


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry timestamps so that the output does not depend on the clock."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def write_security_policy(path: Path) -> None:
    """Build the security policy DOCX with heading styles, bullets and one table."""
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    for name in ("Normal", "Title", "Heading 1", "Heading 2", "List Bullet"):
        _set_east_asian_font(doc.styles[name], "Yu Gothic")
    doc.styles["Normal"].font.size = Pt(10.5)

    props = doc.core_properties
    props.title = "情報セキュリティポリシー"
    props.subject = "情報セキュリティの基本ルール"
    props.author = "株式会社サクラテック 情報システム部"
    props.last_modified_by = "株式会社サクラテック 情報システム部"
    props.keywords = "セキュリティ, パスワード, 情報分類"
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.revision = 4

    blocks = parse_markup(SECURITY_POLICY_SOURCE)
    for block in blocks:
        if block.kind == "title":
            doc.add_heading(block.text, level=0)  # the "Title" style
        elif block.kind == "h1":
            doc.add_heading(block.text, level=1)
        elif block.kind == "h2":
            doc.add_heading(block.text, level=2)
        elif block.kind == "li":
            doc.add_paragraph(block.text, style="List Bullet")
        elif block.kind == "p":
            doc.add_paragraph(block.text)
        elif block.kind == "table":
            header, *body = block.rows
            table = doc.add_table(rows=1, cols=len(header))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, header, strict=True):
                cell.text = ""
                cell.paragraphs[0].add_run(text).bold = True
            for row in body:
                for cell, text in zip(table.add_row().cells, row, strict=True):
                    cell.text = text

    buffer = io.BytesIO()
    doc.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_normalize_zip(buffer.getvalue()))


# --------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------

PDF_FONT = "HeiseiKakuGo-W5"
# Characters that must not start a line (kinsoku shori): they hang at the end of the previous line.
NO_LINE_START = set("、。，．・：；？！）」』】〕＞ー～ぁぃぅぇぉっゃゅょァィゥェォッャュョ,.:;?!)]")
NO_LINE_END = set("（「『【〔＜([")


def wrap_text(text: str, font: str, size: float, width: float) -> list[str]:
    """Wrap text by measured glyph width: Japanese may break between any two characters.

    Runs of ASCII letters and digits (English words, numbers, e-mail addresses) are kept whole where
    possible, closing punctuation hangs at the end of a line and opening brackets move to the next.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    line = ""
    for char in text:
        candidate = line + char
        if not line or stringWidth(candidate, font, size) <= width or char in NO_LINE_START:
            line = candidate
            continue
        # Break before `char`; a trailing ASCII run ("4" of "4月", "IT" of "ITヘルプ", a partial word)
        # and a trailing opening bracket move to the next line with it.
        cut = len(line)
        if not char.isspace():
            while cut > 0 and line[cut - 1].isascii() and line[cut - 1].isalnum():
                cut -= 1
            if cut == 0:
                cut = len(line)
        while cut > 0 and line[cut - 1] in NO_LINE_END:
            cut -= 1
        if cut == 0:
            cut = len(line)
        lines.append(line[:cut].rstrip())
        line = line[cut:].lstrip() + char
    if line:
        lines.append(line)
    return lines


class PdfWriter:
    """A minimal flowing-layout writer on top of reportlab's canvas (A4, one column)."""

    def __init__(self, path: Path, title: str, author: str, subject: str) -> None:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont
        from reportlab.pdfgen import canvas

        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
        self.page_width, self.page_height = A4
        self.margin = 20 * mm
        self.width = self.page_width - 2 * self.margin
        self.canvas = canvas.Canvas(str(path), pagesize=A4, invariant=1)
        self.canvas.setTitle(title)
        self.canvas.setAuthor(author)
        self.canvas.setSubject(subject)
        self.canvas.setCreator("data/make_binary_samples.py")
        self.page = 1
        self.y = self.page_height - self.margin

    def _footer(self) -> None:
        self.canvas.setFont(PDF_FONT, 8)
        self.canvas.drawCentredString(self.page_width / 2, self.margin / 2, f"- {self.page} -")

    def _ensure(self, height: float) -> None:
        if self.y - height < self.margin:
            self._footer()
            self.canvas.showPage()
            self.page += 1
            self.y = self.page_height - self.margin

    def text(self, text: str, size: float, indent: float = 0, bullet: str = "", after: float = 0) -> None:
        leading = size * 1.6
        bullet_width = self.canvas.stringWidth(bullet, PDF_FONT, size) if bullet else 0
        lines = wrap_text(text, PDF_FONT, size, self.width - indent - bullet_width)
        for index, line in enumerate(lines):
            self._ensure(leading)
            self.y -= leading
            self.canvas.setFont(PDF_FONT, size)
            # The bullet goes in the same text run as its line, so that extracted text keeps them together.
            if bullet and index == 0:
                self.canvas.drawString(self.margin + indent, self.y, bullet + line)
            else:
                self.canvas.drawString(self.margin + indent + bullet_width, self.y, line)
        self.y -= after

    def heading(self, text: str, size: float) -> None:
        self._ensure(size * 4)  # keep a heading together with the start of its section
        self.y -= size * 0.8
        self.text(text, size, after=size * 0.3)

    def table(self, rows: list[list[str]], size: float = 9) -> None:
        leading = size * 1.5
        pad = 4.0
        columns = len(rows[0])
        width = self.canvas.stringWidth
        longest = [max(width(row[i], PDF_FONT, size) for row in rows) for i in range(columns)]
        total = sum(longest)
        col_widths = [self.width * w / total for w in longest]
        self.y -= 4
        for row_index, row in enumerate(rows):
            cells = [
                wrap_text(text, PDF_FONT, size, w - 2 * pad) if text else [""]
                for text, w in zip(row, col_widths, strict=True)
            ]
            height = max(len(c) for c in cells) * leading + 2 * pad
            self._ensure(height)
            top = self.y
            x = self.margin
            if row_index == 0:
                self.canvas.setFillGray(0.9)
                self.canvas.rect(self.margin, top - height, self.width, height, stroke=0, fill=1)
                self.canvas.setFillGray(0)
            for lines, w in zip(cells, col_widths, strict=True):
                self.canvas.rect(x, top - height, w, height, stroke=1, fill=0)
                self.canvas.setFont(PDF_FONT, size)
                for i, line in enumerate(lines):
                    self.canvas.drawString(x + pad, top - pad - (i + 1) * leading + size * 0.35, line)
                x += w
            self.y = top - height
        self.y -= 8

    def save(self) -> None:
        self._footer()
        self.canvas.save()


def write_onboarding_guide(path: Path) -> None:
    """Build the onboarding guide PDF from `ONBOARDING_SOURCE`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf = PdfWriter(
        path,
        title="新入社員オンボーディングガイド",
        author="株式会社サクラテック 人事部",
        subject="入社初日から3か月までの準備と手続き",
    )
    for block in parse_markup(ONBOARDING_SOURCE):
        if block.kind == "title":
            pdf.heading(block.text, 18)
        elif block.kind == "h1":
            pdf.heading(block.text, 13)
        elif block.kind == "h2":
            pdf.heading(block.text, 11.5)
        elif block.kind == "p":
            pdf.text(block.text, 10.5, after=6)
        elif block.kind == "li":
            pdf.text(block.text, 10.5, indent=8, bullet="・", after=1)
        elif block.kind == "table":
            pdf.table(block.rows)
    pdf.save()


def main() -> None:
    write_work_rules(WORK_RULES_PATH)
    write_security_policy(SECURITY_PATH)
    write_onboarding_guide(ONBOARDING_PATH)
    for path in (WORK_RULES_PATH, SECURITY_PATH, ONBOARDING_PATH):
        print(f"wrote {path.relative_to(SAMPLE_DIR.parent)} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
