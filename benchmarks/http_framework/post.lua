wrk.method = "POST"
wrk.body = '{"orchestrator":"' .. string.rep("A", 800) .. '","type":"lv2v","ManifestID":"abc","state":{"State":"' .. string.rep("B", 500) .. '","Sig":"' .. string.rep("C", 88) .. '"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer abcdefabcdefabcdef"
