/** The dashboard's one script (served as a file): draws each `[data-chart]` with uPlot from node_modules. */
export const CHARTS_SCRIPT = `(function(){
if(typeof uPlot!=='function')return;
var root=getComputedStyle(document.documentElement);
function v(n,f){var x=root.getPropertyValue(n).trim();return x||f}
var ink=v('--ink','#1f2430'),line=v('--line','#d5d9e0');
var palette=[v('--link','#4f46e5'),v('--cerr-edge','#d97706'),v('--ok-edge','#1f8a4c'),v('--err-edge','#c62828')];
document.querySelectorAll('[data-chart]').forEach(function(el){
var d;try{d=JSON.parse(el.getAttribute('data-chart'))}catch(e){return}
if(!d.x||!d.x.length){el.textContent='No data in this period.';return}
var width=Math.max(260,Math.min(el.clientWidth||600,1000));
var axis={stroke:ink,grid:{stroke:line,width:1},ticks:{stroke:line,width:1}};
var opts={width:width,height:220,scales:{x:{time:true}},axes:[axis,axis],
series:[{}].concat(d.series.map(function(s,i){return{label:s.label,stroke:palette[i%palette.length],width:2,points:{show:true,size:6}}}))};
new uPlot(opts,[d.x].concat(d.series.map(function(s){return s.values})),el);
});})();`;
