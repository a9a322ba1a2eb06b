/* e-receipt page: report a person's view and the blocks they scrolled to (docs/pages-events.md) */
(function(){
var c=document.getElementById("ec-t");if(!c||!window.fetch||!window.crypto)return;
var vt=c.getAttribute("data-vt"),url=c.getAttribute("data-ev"),q=[],open=0,tm=0,path=location.pathname;
function uid(){if(crypto.randomUUID)return crypto.randomUUID();var b=crypto.getRandomValues(new Uint8Array(16)),h="",i;
b[6]=b[6]&15|64;b[8]=b[8]&63|128;for(i=0;i<16;i++)h+=(b[i]+256).toString(16).slice(1)+(i==3||i==5||i==7||i==9?"-":"");return h}
function id(k){var s,v;k="ec:"+path+":"+k;try{s=sessionStorage;v=s.getItem(k)}catch(e){}if(!v){v=uid();try{s.setItem(k,v)}catch(e){}}return v}
function flush(){tm=0;if(!open||!q.length)return;var b=JSON.stringify({t:vt,events:q.splice(0,50)});
fetch(url,{method:"POST",headers:{"Content-Type":"application/json"},body:b,keepalive:true,credentials:"same-origin"}).catch(function(){});if(q.length)flush()}
function add(e){e.at=Date.now();q.push(e);if(open&&!tm)tm=setTimeout(flush,200)}
function seen(){if(open)return;open=1;q.unshift({id:id("open"),type:"receipt_open",at:Date.now()});flush()}
var dwell=0;function vis(){clearTimeout(dwell);if(document.visibilityState=="visible")dwell=setTimeout(seen,1000)}
document.addEventListener("visibilitychange",vis);vis();
if(window.IntersectionObserver){var o=new IntersectionObserver(function(es){es.forEach(function(e){if(e.intersectionRatio<.5&&e.intersectionRect.height<innerHeight/2)return;o.unobserve(e.target);
var b=e.target.getAttribute("data-block"),g=e.target.getAttribute("data-segment"),v={id:id("v:"+b),type:"block_view",block:b};if(g)v.segment=g;add(v)})},{threshold:[0,.25,.5,.75,1]});
[].forEach.call(document.querySelectorAll("[data-block]"),function(el){o.observe(el)})}
addEventListener("pagehide",flush);
})();
