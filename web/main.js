document.getElementById("app").textContent = "missive";
