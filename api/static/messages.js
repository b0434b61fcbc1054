/*
 * What the page says when an API call fails: plain Japanese words for each status, the field names of a
 * validation error (422) in the words of the form, and the server's own detail kept as the last line.
 */

const FIELD_NAMES = {
  query: "検索語",
  question: "質問",
  document: "文書のパス",
  n: "問題数",
  k: "件数",
  offset: "表示位置",
  "filters.path_prefix": "フォルダ",
  "filters.formats": "形式",
  "filters.modified_after": "更新日（から）",
  "filters.modified_before": "更新日（まで）",
};

/** A plain-words message for a failed response; the server's own detail is kept as the last line. */
export function describe(status, body, retryAfter) {
  const detail = body && body.detail;
  if (status === 422 && Array.isArray(detail)) {
    const lines = detail.map((item) => {
      const field = FIELD_NAMES[item.field] || item.field || "";
      return field ? `・${field}: ${item.msg}` : `・${item.msg}`;
    });
    return `入力内容に誤りがあります。確認してください。\n${lines.join("\n")}`;
  }
  const server = typeof detail === "string" && detail ? `\n（サーバーの説明: ${detail}）` : "";
  switch (status) {
    case 400:
      return `この条件では実行できませんでした。${server}`;
    case 401:
      return `APIキーが正しくありません。${server}`;
    case 404:
      return `見つかりませんでした。索引が更新された可能性があります。もう一度検索してください。${server}`;
    case 413:
      return `送信内容が大きすぎます。検索語や質問を短くしてください。${server}`;
    case 503:
      return retryAfter
        ? `サーバーが混雑しています。${retryAfter}秒ほど待ってから再試行してください。${server}`
        : `サーバーが一時的に利用できません。しばらく待ってから再試行してください。${server}`;
    case 504:
      return `時間内に処理が終わりませんでした。問題数を減らすか、質問を短くしてください。${server}`;
    default:
      return status >= 500
        ? `サーバーでエラーが起きました（${status}）。管理者に連絡してください。${server}`
        : `リクエストが失敗しました（${status}）。${server}`;
  }
}
