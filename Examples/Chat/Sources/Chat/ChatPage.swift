/// The chat page: plain HTML, CSS and script in one document, nothing fetched from elsewhere.
enum ChatPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>swift-edge chat</title>
        <style>
          body { font: 15px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
          header, footer { padding: 8px 12px; background: #f3f3f3; display: flex; gap: 8px; align-items: center; }
          main { flex: 1; display: flex; min-height: 0; }
          #log { flex: 1; overflow-y: auto; padding: 8px 12px; margin: 0; list-style: none; }
          #log li { margin: 2px 0; }
          #log .meta { color: #777; font-style: italic; }
          #log .error { color: #b00020; }
          #people { width: 160px; border-left: 1px solid #ddd; padding: 8px 12px; overflow-y: auto; }
          #people h2 { font-size: 13px; margin: 0 0 6px; color: #555; }
          #people ul { list-style: none; padding: 0; margin: 0; }
          footer input { flex: 1; }
          #status { color: #555; font-size: 13px; }
        </style>
        </head>
        <body>
        <header>
          <form id="join">
            <label>Room <input id="room" value="lobby" pattern="[A-Za-z0-9_-]{1,64}" required></label>
            <label>Name <input id="name" pattern="[A-Za-z0-9_-]{1,32}" required></label>
            <button>Join</button>
          </form>
          <span id="status">not connected</span>
        </header>
        <main>
          <ul id="log"></ul>
          <aside id="people"><h2>Present</h2><ul id="present"></ul></aside>
        </main>
        <footer>
          <form id="send" style="display: contents">
            <input id="text" maxlength="4000" placeholder="Say something" autocomplete="off" disabled>
            <button id="sendButton" disabled>Send</button>
          </form>
        </footer>
        <script>
        "use strict";
        let socket = null, pinger = null;
        const $ = (id) => document.getElementById(id);
        $("name").value = "guest-" + Math.floor(Math.random() * 10000);

        function line(text, kind) {
          const item = document.createElement("li");
          item.textContent = text;
          if (kind) item.className = kind;
          $("log").appendChild(item);
          $("log").scrollTop = $("log").scrollHeight;
        }

        function showMessage(m) {
          line(new Date(m.at).toLocaleTimeString() + "  " + m.name + ": " + m.text);
        }

        function showPresent(names) {
          $("present").replaceChildren(...names.map((name) => {
            const item = document.createElement("li");
            item.textContent = name;
            return item;
          }));
        }

        function setConnected(connected, status) {
          $("text").disabled = !connected;
          $("sendButton").disabled = !connected;
          $("status").textContent = status;
        }

        $("join").addEventListener("submit", (event) => {
          event.preventDefault();
          if (socket) socket.close(1000, "switching rooms");
          $("log").replaceChildren();
          const room = $("room").value, name = $("name").value;
          const scheme = location.protocol === "https:" ? "wss:" : "ws:";
          const url = scheme + "//" + location.host + "/rooms/" + encodeURIComponent(room) + "/websocket?name=" + encodeURIComponent(name);
          const current = socket = new WebSocket(url);
          setConnected(false, "connecting…");
          current.onopen = () => {
            setConnected(true, "in " + room + " as " + name);
            clearInterval(pinger);
            pinger = setInterval(() => current.readyState === WebSocket.OPEN && current.send("ping"), 20000);
          };
          current.onmessage = (event) => {
            if (event.data === "pong") return;
            const e = JSON.parse(event.data);
            if (e.type === "history") e.messages.forEach(showMessage);
            else if (e.type === "message") showMessage(e.message);
            else if (e.type === "join") { line(e.name + " joined", "meta"); showPresent(e.present); }
            else if (e.type === "leave") { line(e.name + " left", "meta"); showPresent(e.present); }
            else if (e.type === "error") line(e.error, "error");
          };
          current.onclose = (event) => {
            if (current !== socket) return;
            setConnected(false, "disconnected (" + event.code + (event.reason ? ": " + event.reason : "") + ")");
            showPresent([]);
          };
        });

        $("send").addEventListener("submit", (event) => {
          event.preventDefault();
          const text = $("text").value;
          if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
          socket.send(JSON.stringify({ text }));
          $("text").value = "";
        });
        </script>
        </body>
        </html>
        """#
}
